/**
 * Renders a kernel to a JavaScript function: the CPU oracle. Same scalar DAG, same loop structure
 * as the WGSL; arithmetic in float64, or rounded to float32 after every operation (`precision: "f32"`)
 * when comparing bit-for-bit-ish with a GPU. Random numbers come from the same Threefry bits (rng.ts).
 */
import type { Kernel } from "./program.ts"
import { offsetIndex, renderBodies, type Syntax } from "./render.ts"
import type { Scalar, ScalarType } from "./scalar.ts"
import * as reference from "./scalar-eval.ts"
import { draws } from "./rng.ts"

export type Precision = "f32" | "f64"

/** A compiled kernel: fills `out` for threads 0…n−1 from `inputs` and the uniform words. */
export type KernelFn = (inputs: readonly ArrayLike<number>[], outs: readonly { [i: number]: number }[], uniforms: Uint32Array, uniformFloats: Float32Array, uniformInts: Int32Array) => void

const unaryJs: Record<string, (a: string) => string> = {
  neg: (a) => `-(${a})`, abs: (a) => `Math.abs(${a})`, exp: (a) => `Math.exp(${a})`, log: (a) => `Math.log(${a})`,
  log1p: (a) => `Math.log1p(${a})`, expm1: (a) => `Math.expm1(${a})`, sqrt: (a) => `Math.sqrt(${a})`,
  rsqrt: (a) => `(1 / Math.sqrt(${a}))`, sin: (a) => `Math.sin(${a})`, cos: (a) => `Math.cos(${a})`, tanh: (a) => `Math.tanh(${a})`,
  sigmoid: (a) => `R.sigmoid(${a})`, silu: (a) => `(${a} * R.sigmoid(${a}))`, softplus: (a) => `R.softplus(${a})`,
  erf: (a) => `R.erf(${a})`, square: (a) => `(${a} * ${a})`, reciprocal: (a) => `(1 / ${a})`, floor: (a) => `Math.floor(${a})`,
  sign: (a) => `Math.sign(${a})`, not: (a) => `!(${a})`,
}

const infix: Record<string, string> = {
  add: "+", sub: "-", mul: "*", div: "/", lt: "<", le: "<=", gt: ">", ge: ">=", eq: "===", ne: "!==", and: "&&", or: "||", mod: "%",
}

const castJs = (value: string, from: ScalarType, to: ScalarType): string => {
  if (to === "bool") return `(${value} !== 0)`
  if (from === "bool") return `(${value} ? 1 : 0)`
  if (to === "i32") return `(Math.trunc(${value}) | 0)`
  if (to === "u32") return `(Math.trunc(${value}) >>> 0)`
  return `(${value})`
}

const uniformJs = (slot: number, t: ScalarType): string =>
  t === "f32" ? `uf[${slot}]` : t === "i32" ? `ui[${slot}]` : t === "bool" ? `(uw[${slot}] !== 0)` : `uw[${slot}]`

const syntaxFor = (precision: Precision): Syntax => {
  const round = (s: Scalar, text: string) => (precision === "f32" && s.type === "f32" ? `Math.fround(${text})` : text)
  return {
    expr: (s, a) => {
      const op = s.op
      switch (op.k) {
        case "const": return s.type === "bool" ? String(Boolean(op.value)) : precision === "f32" && s.type === "f32" ? `${Math.fround(op.value)}` : `${op.value}`
        case "uniform": return uniformJs(op.slot, s.type)
        case "gid": return "gid"
        case "external": return op.name
        case "loopVar": return `r${op.loop}`
        case "load": return s.type === "bool" ? `(in${op.binding}[${a[0]}] !== 0)` : `in${op.binding}[${a[0]}]`
        case "unary": return round(s, unaryJs[op.fn]!(a[0]!))
        case "binary":
          if (op.fn === "pow") return round(s, `R.pow(${a[0]}, ${a[1]})`)
          if (op.fn === "max" || op.fn === "min") return round(s, `Math.${op.fn}(${a[0]}, ${a[1]})`)
          if (op.fn === "idiv") return `((${a[0]} / ${a[1]}) | 0)`
          if (s.type === "i32" && op.fn === "mul") return `Math.imul(${a[0]}, ${a[1]})`
          if (s.type === "i32") return `((${a[0]} ${infix[op.fn]} ${a[1]}) | 0)`
          return round(s, `(${a[0]} ${infix[op.fn]} ${a[1]})`)
        case "select": return `(${a[0]} ? ${a[1]} : ${a[2]})`
        case "cast": return round(s, castJs(a[0]!, s.args[0]!.type, s.type))
        // With sub-steps the step word wraps like WGSL's u32 arithmetic: (step·B + i) mod 2³².
        case "random":
          if (op.substeps) return `G.${op.dist}(uw[0], ${op.salt}, (uw[1] * ${op.substeps} + ${a[1]}) % 4294967296, ${a[0]})`
          return `G.${op.dist}(uw[0], ${op.salt}, uw[1], ${a[0]})`
        case "reduce": throw new Error("reductions are rendered as loops")
      }
    },
    bind: (name, _type, expr) => `const ${name} = ${expr};`,
    accumulator: (acc, _type, fn) =>
      fn === "sum" ? [`let ${acc} = 0;`] : fn === "max" ? [`let ${acc} = -Infinity;`] : [`let ${acc}_max = -Infinity;`, `let ${acc}_sum = 0;`],
    forLoop: (counter, extent) => `for (let ${counter} = 0; ${counter} < ${extent}; ${counter}++) {`,
    accumulate: (acc, fn, value, type) => {
      const f = (text: string) => (precision === "f32" && type === "f32" ? `Math.fround(${text})` : text)
      if (fn === "sum") return [`${acc} = ${f(`${acc} + ${value}`)};`]
      if (fn === "max") return [`${acc} = Math.max(${acc}, ${value});`]
      return [
        `const ${acc}_next = Math.max(${acc}_max, ${value});`,
        `${acc}_sum = ${f(`${acc}_sum * Math.exp(${acc}_max - ${acc}_next) + Math.exp(${value} - ${acc}_next)`)};`,
        `${acc}_max = ${acc}_next;`,
      ]
    },
    result: (acc, fn) => (fn === "logsumexp" ? `${acc}_max + Math.log(${acc}_sum)` : acc),
  }
}

/** The JS source of `kernel` (shown by `explain` and debugging flags, like the WGSL). */
export const renderJs = (kernel: Kernel, precision: Precision): string => {
  const outputs = [{ value: kernel.value, outputType: kernel.outputType, writeOffset: kernel.writeOffset }, ...kernel.siblings]
  const { lines, results } = renderBodies(outputs.map((o) => o.value), syntaxFor(precision), "    ")
  return [
    `// sdeflow ${kernel.name}: fused [${kernel.ops.join(", ")}]`,
    ...kernel.reads.map((_, i) => `const in${i} = inputs[${i}];`),
    ...outputs.map((_, j) => `const out${j} = outs[${j}];`),
    `for (let gid = 0; gid < ${kernel.threads}; gid++) {`,
    ...lines,
    ...outputs.map((o, j) => `    out${j}[${offsetIndex("gid", o.writeOffset)}] = ${o.outputType === "bool" ? `(${results[j]} ? 1 : 0)` : results[j]};`),
    `}`,
  ].join("\n")
}

const random = draws

/** Compiles `kernel` to a callable JS function. */
export const compileJsKernel = (kernel: Kernel, precision: Precision): KernelFn => {
  const body = renderJs(kernel, precision)
  const make = new Function("R", "G", "inputs", "outs", "uw", "uf", "ui", body) as (
    R: typeof reference, G: typeof random, inputs: readonly ArrayLike<number>[], outs: readonly { [i: number]: number }[], uw: Uint32Array, uf: Float32Array, ui: Int32Array,
  ) => void
  return (inputs, outs, uw, uf, ui) => make(reference, random, inputs, outs, uw, uf, ui)
}
