/**
 * WGSL syntax for scalar DAGs: the expression of every scalar op, the storage type of every scalar type,
 * and the accumulator loops of reductions. `render.ts` walks the DAG; kernel renderers (`wgsl.ts`, the
 * tiled templates) call it with this syntax. The helpers it calls (`sdf_*`) are in `wgsl-prelude.ts`.
 */
import { literal, param, paramQuotient } from "./wgsl-literal.ts"
import type { Syntax } from "./render.ts"
import type { Scalar, ScalarType } from "./scalar.ts"

export const storageType = (t: ScalarType): string => (t === "bool" ? "u32" : t)

/** Uniform slot `s` as a value of type `t` (all slots are u32 words of `array<vec4u>`). */
const uniformWord = (slot: number, t: ScalarType): string => {
  const word = `u[${slot >> 2}][${slot & 3}]`
  return t === "u32" ? word : t === "bool" ? `(${word} != 0u)` : `bitcast<${t}>(${word})`
}

const unaryWgsl: Record<string, (a: string) => string> = {
  neg: (a) => `-(${a})`, abs: (a) => `abs(${a})`, exp: (a) => `exp(${a})`, log: (a) => `log(${a})`,
  log1p: (a) => `sdf_log1p(${a})`, expm1: (a) => `sdf_expm1(${a})`, sqrt: (a) => `sqrt(${a})`,
  rsqrt: (a) => `inverseSqrt(${a})`, sin: (a) => `sdf_sin(${a})`, cos: (a) => `sdf_cos(${a})`, tanh: (a) => `sdf_tanh(${a})`,
  sigmoid: (a) => `sdf_sigmoid(${a})`, silu: (a) => `(${a} * sdf_sigmoid(${a}))`, softplus: (a) => `sdf_softplus(${a})`,
  erf: (a) => `sdf_erf(${a})`, square: (a) => `(${a} * ${a})`, reciprocal: (a) => `(1.0 / ${a})`, floor: (a) => `floor(${a})`,
  sign: (a) => `sign(${a})`, not: (a) => `!(${a})`,
}

const infix: Record<string, string> = {
  add: "+", sub: "-", mul: "*", div: "/", lt: "<", le: "<=", gt: ">", ge: ">=", eq: "==", ne: "!=", and: "&&", or: "||", idiv: "/", mod: "%",
}

const cast = (value: string, from: ScalarType, to: ScalarType): string => {
  if (to === "bool") return from === "f32" ? `(${value} != 0.0)` : `(${value} != ${literal(0, from)})`
  if (from === "bool") return `select(${literal(0, to)}, ${literal(1, to)}, ${value})`
  return `${to}(${value})`
}

/** WGSL syntax for scalar DAGs (kernel bodies and template epilogues). */
export const epilogueSyntax: Syntax = {
  expr: (s: Scalar, a: readonly string[]) => {
    const op = s.op
    switch (op.k) {
      case "const": return param(op.value, s.type)
      case "uniform": return uniformWord(op.slot, s.type)
      case "gid": return "gid"
      case "external": return op.name
      case "loopVar": return `r${op.loop}`
      case "load": return s.type === "bool" ? `(in${op.binding}[${a[0]}] != 0u)` : `in${op.binding}[${a[0]}]`
      case "unary": return unaryWgsl[op.fn]!(a[0]!)
      case "binary":
        if (op.fn === "pow") return `sdf_pow(${a[0]}, ${a[1]})`
        if (op.fn === "max" || op.fn === "min") return `${op.fn}(${a[0]}, ${a[1]})`
        if ((op.fn === "idiv" || op.fn === "mod") && s.args[1]!.op.k === "const") {
          const divisor = (s.args[1]!.op as { value: number }).value
          // A small non-negative dividend may be divided by a parameter (see paramQuotient); any other
          // stays a literal division: by a parameter, lavapipe would divide per lane (bench/README.md).
          return op.smallDividend ? paramQuotient(op.fn, a[0]!, divisor) : `(${a[0]} ${infix[op.fn]} ${literal(divisor, "i32")})`
        }
        return `(${a[0]} ${infix[op.fn]} ${a[1]})`
      case "select": return `select(${a[2]}, ${a[1]}, ${a[0]})`
      case "cast": return cast(a[0]!, s.args[0]!.type, s.type)
      case "random":
        if (op.substeps) return `sdf_random_${op.dist}_at(${param(op.salt, "u32")}, u[0][1] * ${literal(op.substeps, "u32")} + u32(${a[1]}), ${a[0]})`
        return `sdf_random_${op.dist}(${param(op.salt, "u32")}, ${a[0]})`
      case "reduce": throw new Error("reductions are rendered as loops")
    }
  },
  bind: (name, _type, expr) => `let ${name} = ${expr};`,
  accumulator: (acc, type, fn) =>
    fn === "sum"
      ? [`var ${acc}: ${type} = ${literal(0, type)};`]
      : fn === "max"
        ? [`var ${acc}: ${type} = ${literal(type === "f32" ? -Infinity : type === "i32" ? -2147483648 : 0, type)};`] // integers have no -∞
        : [`var ${acc}_max: f32 = ${literal(-Infinity, "f32")};`, `var ${acc}_sum: f32 = 0.0;`],
  forLoop: (counter, extent) => `for (var ${counter}: i32 = 0; ${counter} < ${param(extent)}; ${counter}++) {`,
  accumulate: (acc, fn, value) =>
    fn === "sum"
      ? [`${acc} = ${acc} + ${value};`]
      : fn === "max"
        ? [`${acc} = max(${acc}, ${value});`]
        : [
            // Online logsumexp: rescale the running sum whenever the running maximum grows.
            `let ${acc}_next = max(${acc}_max, ${value});`,
            `${acc}_sum = ${acc}_sum * exp(${acc}_max - ${acc}_next) + exp(${value} - ${acc}_next);`,
            `${acc}_max = ${acc}_next;`,
          ],
  result: (acc, fn) => (fn === "logsumexp" ? `${acc}_max + log(${acc}_sum)` : acc),
}
