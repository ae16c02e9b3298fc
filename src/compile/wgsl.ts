/**
 * Renders a kernel to WGSL: readable (named temporaries, one statement per line, a header listing the
 * fused primitives), one thread per output element, dispatched on a 2-D grid past 65535 workgroups.
 */
import { philoxWgsl } from "./philox.ts"
import { defaultTiles, renderTiledMatmul, tiledGrid, tiledTexture, type TileShape } from "./tiled-matmul.ts"
import type { OperandTexture } from "./lane-matmul.ts"
import type { Kernel, Program } from "./program.ts"
import { offsetIndex, renderBodies, type Syntax } from "./render.ts"
import { literal, param, paramsDeclaration } from "./wgsl-literal.ts"
import { liftConstants, type FormRegistry, type LiftedKernel } from "./lift-constants.ts"

/** Name of a kernel's j-th output array: `out`, then `out1`, `out2`, … for siblings. */
export const outName = (j: number): string => (j === 0 ? "out" : `out${j}`)
import type { Scalar, ScalarType } from "./scalar.ts"

export const WORKGROUP = 256
const MAX_GROUPS = 65535

/** Workgroup counts (x, y, z) a kernel is dispatched with. */
export const dispatchGrid = (kernel: Kernel, options: WgslOptions = {}): [number, number, number] =>
  kernel.tiled ? tiledGrid(kernel.tiled, { ...defaultTiles, ...options }) : [...gridFor(kernel.threads), 1]

/** Workgroup counts for `threads` threads, split over x and y when x alone would exceed the limit. */
export const gridFor = (threads: number): [number, number] => {
  const groups = Math.max(1, Math.ceil(threads / WORKGROUP))
  const x = Math.min(groups, MAX_GROUPS)
  return [x, Math.ceil(groups / x)]
}

export const storageType = (t: ScalarType): string => (t === "bool" ? "u32" : t)

/** Uniform slot `s` as a value of type `t` (all slots are u32 words of `array<vec4u>`). */
const uniformWord = (slot: number, t: ScalarType): string => {
  const word = `u[${slot >> 2}][${slot & 3}]`
  return t === "u32" ? word : t === "bool" ? `(${word} != 0u)` : `bitcast<${t}>(${word})`
}

const unaryWgsl: Record<string, (a: string) => string> = {
  neg: (a) => `-(${a})`, abs: (a) => `abs(${a})`, exp: (a) => `exp(${a})`, log: (a) => `log(${a})`,
  log1p: (a) => `sdf_log1p(${a})`, expm1: (a) => `sdf_expm1(${a})`, sqrt: (a) => `sqrt(${a})`,
  rsqrt: (a) => `inverseSqrt(${a})`, sin: (a) => `sin(${a})`, cos: (a) => `cos(${a})`, tanh: (a) => `sdf_tanh(${a})`,
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

const randomWgsl: Record<string, string> = {
  uniform: "rng_uniform(bits.x)",
  normal: "rng_normal(bits.x, bits.y)",
  rademacher: "rng_rademacher(bits.x)",
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
        // Integer division by a literal is a multiply and a shift; by a parameter, lavapipe runs a scalar
        // divide per lane (the training step's GEMM loaders ran 4× slower): divisors stay literals.
        if ((op.fn === "idiv" || op.fn === "mod") && s.args[1]!.op.k === "const") return `(${a[0]} ${infix[op.fn]} ${literal((s.args[1]!.op as { value: number }).value, s.args[1]!.type)})`
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

/** Numerically careful helpers WGSL lacks; mirrored exactly by `scalar-eval.ts` on the CPU. */
export const wgslPrelude = /* wgsl */ `
var<private> sdf_inf_bits: u32 = 0x7f800000u;
var<private> sdf_nan_bits: u32 = 0x7fc00000u;
// log1p and expm1 must not call log/exp near 1/0: WGSL bounds log only absolutely there and
// lavapipe loses all relative accuracy (19% error at x = 1e-7 with the log-based corrections of
// Goldberg and Kahan). Small |x| use series instead: log1p(x) = 2 atanh(s), s = x / (2 + x), |s| ≤ 0.053,
// truncated after s^7 (relative error < 1e-11); expm1's Taylor polynomial to x^6 (< 3e-10 for |x| < 0.1).
fn sdf_log1p(x: f32) -> f32 {
  if (abs(x) < 0.1) {
    let s = x / (2.0 + x);
    let s2 = s * s;
    return 2.0 * s * (1.0 + s2 * (0.33333334 + s2 * (0.2 + s2 * 0.14285715)));
  }
  let u = 1.0 + x;
  return log(u) * (x / (u - 1.0));
}
fn sdf_expm1(x: f32) -> f32 {
  if (abs(x) < 0.1) {
    return x * (1.0 + x * (0.5 + x * (0.16666667 + x * (0.041666668 + x * (0.008333334 + x * 0.0013888889)))));
  }
  return exp(x) - 1.0;
}
// tanh = -expm1(-2|x|) / (2 + expm1(-2|x|)): never overflows, unlike (e^2x - 1)/(e^2x + 1), and
// keeps its relative accuracy near 0, where 1 - exp(-2|x|) would cancel (1% error at x = 1e-6).
fn sdf_tanh(x: f32) -> f32 { let e = sdf_expm1(-2.0 * abs(x)); return sign(x) * (-e) / (2.0 + e); }
fn sdf_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn sdf_softplus(x: f32) -> f32 { return max(x, 0.0) + sdf_log1p(exp(-abs(x))); }
// Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7.
fn sdf_erf(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign(x) * (1.0 - poly * exp(-a * a));
}
// x^y; WGSL's pow is undefined for x < 0, ours follows the integer-exponent convention.
fn sdf_pow(x: f32, y: f32) -> f32 {
  if (x > 0.0) { return pow(x, y); }
  if (x == 0.0) { return select(select(bitcast<f32>(sdf_inf_bits), 1.0, y == 0.0), 0.0, y > 0.0); }
  if (y != floor(y)) { return bitcast<f32>(sdf_nan_bits); }
  let m = pow(-x, y);
  return select(-m, m, (abs(y) % 2.0) == 0.0);
}
`

export const randomPrelude = /* wgsl */ `
fn sdf_random_uniform(salt: u32, index: i32) -> f32 { let bits = random_bits(u[0][0], salt, u[0][1], u32(index)); return ${randomWgsl.uniform}; }
fn sdf_random_normal(salt: u32, index: i32) -> f32 { let bits = random_bits(u[0][0], salt, u[0][1], u32(index)); return ${randomWgsl.normal}; }
fn sdf_random_rademacher(salt: u32, index: i32) -> f32 { let bits = random_bits(u[0][0], salt, u[0][1], u32(index)); return ${randomWgsl.rademacher}; }
fn sdf_random_uniform_at(salt: u32, step: u32, index: i32) -> f32 { let bits = random_bits(u[0][0], salt, step, u32(index)); return ${randomWgsl.uniform}; }
fn sdf_random_normal_at(salt: u32, step: u32, index: i32) -> f32 { let bits = random_bits(u[0][0], salt, step, u32(index)); return ${randomWgsl.normal}; }
fn sdf_random_rademacher_at(salt: u32, step: u32, index: i32) -> f32 { let bits = random_bits(u[0][0], salt, step, u32(index)); return ${randomWgsl.rademacher}; }
`

export const usesRandom = (s: Scalar, seen = new Set<number>()): boolean => {
  if (seen.has(s.id)) return false
  seen.add(s.id)
  return s.op.k === "random" || s.args.some((a) => usesRandom(a, seen))
}

/** The WGSL source of `kernel`: bindings in-0…in-(r−1), the output, then the uniforms. */
/**
 * Rendering choices that depend on the adapter: register-tile rows, and workgroup-memory staging of
 * convolution operands (pays off on GPUs; on lavapipe barriers cost more than the loads they save).
 */
export type WgslOptions = Partial<TileShape>

/** The storage buffer `kernel` reads as a texture under `options` (the executable mirrors it before the dispatch). */
export const kernelTexture = (program: Program, kernel: Kernel, options: WgslOptions = {}): OperandTexture | undefined =>
  kernel.tiled ? tiledTexture(program, kernel, kernel.tiled, { ...defaultTiles, ...options }) : undefined

/**
 * Every kernel of `program` as it is compiled: kernels of one form share their text, with the sizes
 * that differ between them read from a parameter uniform (lift-constants.ts).
 */
export const renderProgramWgsl = (program: Program, options: WgslOptions = {}, forms?: FormRegistry): LiftedKernel[] =>
  liftConstants(program.kernels.map((k) => renderMarkedWgsl(program, k, options)), forms)

/** One kernel's WGSL on its own (every value a literal), for reading and for tests. */
export const renderWgsl = (program: Program, kernel: Kernel, options: WgslOptions = {}): string =>
  liftConstants([renderMarkedWgsl(program, kernel, options)])[0]!.wgsl

/** A kernel's WGSL with its liftable values marked (see wgsl-literal.ts). */
const renderMarkedWgsl = (program: Program, kernel: Kernel, options: WgslOptions = {}): string => {
  if (kernel.tiled) return renderTiledMatmul(program, kernel, kernel.tiled, { ...defaultTiles, ...options })
  const outputs = [{ value: kernel.value, outputType: kernel.outputType, writeOffset: kernel.writeOffset }, ...kernel.siblings]
  const { lines, results } = renderBodies(outputs.map((o) => o.value), epilogueSyntax)
  const [groupsX] = gridFor(kernel.threads)
  const uniformVecs = Math.max(1, Math.ceil(program.uniforms.length / 4))
  const bindings = kernel.reads.map(
    (slot, i) => `@group(0) @binding(${i}) var<storage, read> in${i}: array<${storageType(program.slots[slot]!.dtype)}>;`,
  )
  return [
    // No kernel index or size in the text: kernels of one form share a pipeline.
    `// sdeflow kernel: fused [${kernel.ops.join(", ")}]`,
    ...bindings,
    ...outputs.map((o, j) => `@group(0) @binding(${kernel.reads.length + j}) var<storage, read_write> ${outName(j)}: array<${storageType(o.outputType)}>;`),
    `@group(0) @binding(${kernel.reads.length + outputs.length}) var<uniform> u: array<vec4<u32>, ${uniformVecs}>;`,
    paramsDeclaration(kernel.reads.length + outputs.length + 1),
    wgslPrelude,
    ...(outputs.some((o) => usesRandom(o.value)) ? [philoxWgsl, randomPrelude] : []),
    `@compute @workgroup_size(${WORKGROUP})`,
    `fn main(@builtin(global_invocation_id) id: vec3<u32>) {`,
    `  let gid = i32(id.x + id.y * ${param(groupsX * WORKGROUP, "u32")});`,
    `  if (gid >= ${param(kernel.threads)}) { return; }`,
    ...lines,
    ...outputs.map((o, j) => `  ${outName(j)}[${offsetIndex("gid", o.writeOffset, param)}] = ${o.outputType === "bool" ? `select(0u, 1u, ${results[j]})` : results[j]};`),
    `}`,
    ``,
  ].join("\n")
}
