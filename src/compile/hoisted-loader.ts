/**
 * A GEMM loader with its loop-invariant work taken out of the k loop. A loader such as a convolution's
 * load_b(k, col) computes much from `col` alone (its image position, its window offset); lavapipe's
 * LLVM pipeline does not move loop-invariant code out of loops, so unless the template does, that work
 * is redone at every k. Here each largest subexpression that depends on the outer index alone becomes a
 * parameter of the loader, computed once per row or column before the loop.
 */
import { renderBody } from "./render.ts"
import { scalarOrder, type Scalar } from "./scalar.ts"
import { epilogueSyntax } from "./wgsl-syntax.ts"

export interface HoistedLoader {
  /** The WGSL functions: the loader, and one per hoisted value (over the outer index, or over k). */
  readonly functions: readonly string[]
  /** Statements naming the hoisted values at `outer` (an i32 in scope; its name prefixes theirs). */
  readonly prepare: (outer: string) => string[]
  /** Functions of k alone, each giving one of the loader's k values (see `call`). */
  readonly kValues: readonly string[]
  /** The loader's call at `k` and `outer` (an i32 expression and a name `prepare` saw), given its k values' names. */
  readonly call: (k: string, outer: string, kValues: readonly string[]) => string
}

/** Names of the externals each node of `root`'s DAG depends on. */
const externalsOf = (root: Scalar): Map<number, ReadonlySet<string>> => {
  const deps = new Map<number, ReadonlySet<string>>()
  for (const s of scalarOrder([root])) {
    const own = new Set<string>(s.op.k === "external" ? [s.op.name] : [])
    for (const a of s.args) for (const name of deps.get(a.id)!) own.add(name)
    deps.set(s.id, own)
  }
  return deps
}

/** Whether a node is worth a parameter: it computes something (not a constant or a bare external). */
const computes = (s: Scalar): boolean => s.op.k !== "const" && s.op.k !== "external" && s.op.k !== "uniform"

/** A hoisted value as a WGSL function of the one index it depends on. */
const valueFunction = (name: string, index: string, value: Scalar): string[] => {
  const { lines, result } = renderBody(value, epilogueSyntax, "  ")
  return [`fn ${name}(${index}: i32) -> ${value.type} {`, ...lines, `  return ${result};`, `}`]
}

/**
 * `value`, a DAG over the externals `outer` and `k`, as a loader `name` whose parameters are in
 * `order` (the two indices, as the template calls them), then its values of the outer index alone,
 * then its values of k alone. The largest such values are taken: those read by a node that depends on
 * both. A value of k alone is numeric, so a subgroup can share it (subgroup-k-loop.ts).
 */
export const hoistedLoader = (name: string, order: readonly ["row", "k"] | readonly ["k", "col"], value: Scalar, type: string): HoistedLoader => {
  const outer = order[0] === "k" ? order[1] : order[0]
  const deps = externalsOf(value)
  const only = (s: Scalar, external: string) => {
    const d = deps.get(s.id)!
    return d.size === 1 && d.has(external)
  }
  const [outerValues, kValues]: [Scalar[], Scalar[]] = [[], []]
  const seen = new Set<number>()
  for (const s of scalarOrder([value])) {
    if (deps.get(s.id)!.size < 2) continue
    for (const a of s.args) {
      if (seen.has(a.id) || !computes(a)) continue
      if (only(a, outer)) outerValues.push(a)
      else if (only(a, "k") && a.type !== "bool") kValues.push(a)
      else continue
      seen.add(a.id)
    }
  }
  const hoisted = [...outerValues.map((h, i): [Scalar, string] => [h, `${outer}_h${i}`]), ...kValues.map((h, i): [Scalar, string] => [h, `k_v${i}`])]
  const { lines, result } = renderBody(value, epilogueSyntax, "  ", new Map(hoisted.map(([h, param]) => [h.id, param])))
  const parameters = [...order.map((p) => `${p}: i32`), ...hoisted.map(([h, param]) => `${param}: ${h.type}`)]
  return {
    functions: [
      `fn ${name}(${parameters.join(", ")}) -> ${type} {`,
      ...lines,
      `  return ${result};`,
      `}`,
      ...outerValues.flatMap((h, i) => valueFunction(`${name}_h${i}`, outer, h)),
      ...kValues.flatMap((h, i) => valueFunction(`${name}_k${i}`, "k", h)),
    ],
    prepare: (at) => outerValues.map((_, i) => `let ${at}_${name}_h${i} = ${name}_h${i}(${at});`),
    kValues: kValues.map((_, i) => `${name}_k${i}`),
    call: (k, at, kNames) => `${name}(${[...order.map((p) => (p === "k" ? k : at)), ...outerValues.map((_, i) => `${at}_${name}_h${i}`), ...kNames].join(", ")})`,
  }
}
