/**
 * Shared structure of both backends: walks a kernel's scalar DAG once, giving every value a name,
 * placing each in the innermost loop it depends on (so loop-invariant work is hoisted for free)
 * and turning reductions into accumulator loops. Backends supply only the syntax.
 */
import type { ReduceOp } from "../ir/node.ts"
import { placement, scalarOrder, type Scalar, type ScalarType } from "./scalar.ts"

export interface Syntax {
  /** Expression text of `s`, given the names of its arguments. */
  readonly expr: (s: Scalar, args: readonly string[]) => string
  readonly bind: (name: string, type: ScalarType, expr: string) => string
  /** Declarations of the accumulator(s) of a reduction named `acc`. */
  readonly accumulator: (acc: string, type: ScalarType, fn: ReduceOp) => string[]
  readonly forLoop: (counter: string, extent: number) => string
  /** Statements folding `value` into the accumulator(s). */
  readonly accumulate: (acc: string, fn: ReduceOp, value: string, type: ScalarType) => string[]
  /** The reduction's value once the loop is done. */
  readonly result: (acc: string, fn: ReduceOp) => string
}

/** Values with no computation of their own stay inline instead of getting a named temporary. */
const inlined = (s: Scalar): boolean => s.op.k === "const" || s.op.k === "gid" || s.op.k === "loopVar" || s.op.k === "external"

/** Statements computing `root` (indented by `indent`), and the name or text holding its value. */
export const renderBody = (root: Scalar, syntax: Syntax, indent = "  ", given?: ReadonlyMap<number, string>): { lines: string[]; result: string } => {
  const { lines, results } = renderBodies([root], syntax, indent, given)
  return { lines, result: results[0]! }
}

/**
 * Statements computing several roots that share subexpressions (a sibling group), and their names.
 * Nodes in `given` are not computed: they are already in scope under the name it maps them to.
 */
export const renderBodies = (roots: readonly Scalar[], syntax: Syntax, indent = "  ", given?: ReadonlyMap<number, string>): { lines: string[]; results: string[] } => {
  const order = scalarOrder(roots, given && new Set(given.keys()))
  const placed = new Map<number, Scalar[]>()
  for (const s of order) {
    const at = placement(s)
    placed.set(at, [...(placed.get(at) ?? []), s])
  }
  const names = new Map<number, string>()
  const lines: string[] = []
  const nameOf = (s: Scalar): string => names.get(s.id)!
  // Names count up per body, not by node id: kernels of one form then render to the same text.
  const loopNames = new Map<number, string>()
  let temporaries = 0

  const block = (loop: number, pad: string): void => {
    for (const s of placed.get(loop) ?? []) {
      const provided = given?.get(s.id)
      if (provided !== undefined) {
        names.set(s.id, provided)
        continue
      }
      const args = s.args.map(nameOf)
      if (s.op.k === "loopVar") {
        names.set(s.id, loopNames.get(s.op.loop)!)
      } else if (inlined(s)) {
        names.set(s.id, syntax.expr(s, args))
      } else if (s.op.k === "reduce") {
        const acc = `acc${temporaries++}`
        const counter = `r${loopNames.size}`
        loopNames.set(s.op.loop, counter)
        lines.push(...syntax.accumulator(acc, s.type, s.op.fn).map((l) => pad + l))
        lines.push(pad + syntax.forLoop(counter, s.op.extent))
        block(s.op.loop, pad + "  ")
        lines.push(...syntax.accumulate(acc, s.op.fn, nameOf(s.args[0]!), s.type).map((l) => pad + "  " + l))
        lines.push(pad + "}")
        const result = syntax.result(acc, s.op.fn)
        if (result === acc) names.set(s.id, acc)
        else {
          const name = `v${temporaries++}`
          lines.push(pad + syntax.bind(name, s.type, result))
          names.set(s.id, name)
        }
      } else {
        const name = `v${temporaries++}`
        lines.push(pad + syntax.bind(name, s.type, syntax.expr(s, args)))
        names.set(s.id, name)
      }
    }
  }
  block(-1, indent)
  return { lines, results: roots.map(nameOf) }
}

/** Where a result at `index` is stored: shifted by the kernel's write offset (parts of an assembled concat). */
export const offsetIndex = (index: string, offset: number): string => (offset === 0 ? index : `${index} + ${offset}`)
