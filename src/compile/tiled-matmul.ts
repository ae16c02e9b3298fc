/**
 * Register-tiled WGSL for a kernel whose work is one matmul plus a fused epilogue (bias, activation,
 * residual, scale…). Each thread owns a TM×TN block of outputs and streams K once, so every loaded
 * element feeds TM or TN FMAs; operands are strided views, so transposed and broadcast operands are
 * free. No workgroup memory: barriers are costly on lavapipe and the register tile does the reuse.
 * The CPU oracle keeps the naive loop, so it checks this template.
 *
 * This file holds what the template's forms share (tile shape, kernel header with the epilogue, stores);
 * the forms are in lane-matmul.ts (strided operands) and loader-matmul.ts (element loaders: convolutions).
 */
import { rngWgsl } from "./rng.ts"
import type { Kernel, Program, TiledMatmul } from "./program.ts"
import { renderBody } from "./render.ts"
import type { Scalar } from "./scalar.ts"
import type { StridedView } from "./strided.ts"
import { epilogueSyntax, storageType } from "./wgsl-syntax.ts"
import { randomPrelude, trigPrelude, usesRandom, usesTrig, wgslPrelude } from "./wgsl-prelude.ts"
import { param, paramOffsetIndex, paramsDeclaration } from "./wgsl-literal.ts"

/** Register-tile rows per thread and workgroup staging: chosen per adapter (see runtime/autotune.ts). */
export interface TileShape {
  /** Output rows per thread of the strided matmul form. */
  readonly matmulRows: number
  /** Output rows per thread of the loader (convolution) form. */
  readonly gemmRows: number
  /** Stage loader-form operands in workgroup memory (for K ≥ 64). */
  readonly workgroupMemory: boolean
  /** Spread the row operand's loads over subgroups of this many lanes (subgroup-k-loop.ts); 0 or absent: off. */
  readonly subgroupChunk?: number
  /** Read the strided form's lane operand through a texture where it takes vec4 loads (lane-matmul.ts). */
  readonly laneTextures?: boolean
}

/**
 * The tile shapes without autotuning (no timestamp queries): 8 rows per thread in both forms, the
 * better of 4 and 8 on lavapipe for matmuls and convolutions alike (bench/README.md, "Decisions and
 * the measurements behind them").
 */
export const defaultTiles: TileShape = { matmulRows: 8, gemmRows: 8, workgroupMemory: false }
export const TILE_N = 4

/** Offset of batch element `z` in an operand: decompose z over the batch shape, dot with strides. */
export const batchOffset = (t: TiledMatmul, view: StridedView): string => {
  let terms = [param(view.offset)]
  let stride = 1
  for (let d = t.batchShape.length - 1; d >= 0; d--) {
    const size = t.batchShape[d]!
    const s = view.strides[d]!
    // Divisors stay literals (see the division note in wgsl-syntax.ts); the stride may vary.
    if (s !== 0 && size > 1) terms.push(`((z / ${stride}) % ${size}) * ${param(s)}`)
    stride *= size
  }
  return terms.join(" + ")
}

/** Bindings the epilogue itself loads (those must keep their scalar element type). */
export const epilogueBindings = (s: Scalar, found = new Set<number>(), seen = new Set<number>()): Set<number> => {
  if (seen.has(s.id)) return found
  seen.add(s.id)
  if (s.op.k === "load") found.add(s.op.binding)
  for (const a of s.args) epilogueBindings(a, found, seen)
  return found
}

/** True when every offset of `view` along the batch and `rowAxis` is a multiple of 4 and the last axis is contiguous. */
export const vec4Aligned = (view: StridedView, rank: number, contiguousAxis: number, otherAxis: number, extent: number): boolean =>
  view.strides[contiguousAxis] === 1 && extent % 4 === 0 && view.offset % 4 === 0 && view.strides[otherAxis]! % 4 === 0 && view.strides.slice(0, rank).every((s) => s % 4 === 0)

/**
 * Where a register tile lands: the guard and the output index of its element (row i, column j), as
 * WGSL expressions of i and j, which are literals or loop counters (j is 0 for vec4 stores). The
 * element's register is `acc<i>` (a vec4 store) or `acc<i>[j]`.
 */
export interface TileStores {
  readonly rows: number
  readonly at: (i: string, j: string) => { readonly guard: string; readonly index: string }
}

/**
 * A register tile's stores through the epilogue. With a real epilogue the raw accumulators are stored
 * first and the epilogue then runs over what was stored (each invocation re-reads only its own
 * writes). On lavapipe, epilogue code sharing live ranges with the accumulators slowed the whole
 * kernel; in two phases an epilogue costs next to nothing (bench/README.md, "Decisions and the
 * measurements behind them"). The second phase is a loop over the tile's rows and columns, so the
 * epilogue is inlined once (four times for vec4 stores), not once per element: LLVM's compile time grows
 * with the inlined code, and a backward epilogue recomputing a normalisation is long.
 */
export const tileStores = (kernel: Kernel, t: TiledMatmul, tile: TileStores, vec: boolean, indent: string): string[] => {
  const at = vec ? `(${paramOffsetIndex("g", kernel.writeOffset)}) / 4` : paramOffsetIndex("g", kernel.writeOffset)
  const apply = (v: string) => (vec ? `vec4<f32>(${[0, 1, 2, 3].map((j) => `epilogue(g + ${j}, ${v}[${j}])`).join(", ")})` : `epilogue(g, ${v})`)
  const line = (i: string, j: string, body: string) => {
    const { guard, index } = tile.at(i, j)
    return `if (${guard}) { let g = ${index}; ${body} }`
  }
  const rows = Array.from({ length: tile.rows }, (_, i) => String(i))
  const cols = vec ? ["0"] : Array.from({ length: TILE_N }, (_, j) => String(j))
  const register = (i: string, j: string) => (vec ? `acc${i}` : `acc${i}[${j}]`)
  const raw = (body: (i: string, j: string) => string) => rows.flatMap((i) => cols.map((j) => `${indent}${line(i, j, body(i, j))}`))
  if (t.epilogue.op.k === "external" || kernel.outputType !== "f32") return raw((i, j) => `out[${at}] = ${apply(register(i, j))};`)
  return [
    ...raw((i, j) => `out[${at}] = ${register(i, j)};`),
    `${indent}for (var store_i: i32 = 0; store_i < ${tile.rows}; store_i++) {`,
    vec
      ? `${indent}  ${line("store_i", "0", `let v = out[${at}]; out[${at}] = ${apply("v")};`)}`
      : `${indent}  for (var store_j: i32 = 0; store_j < ${TILE_N}; store_j++) { ${line("store_i", "store_j", `let v = out[${at}]; out[${at}] = ${apply("v")};`)} }`,
    `${indent}}`,
  ]
}

/** Shared declarations: bindings, uniforms, prelude, the epilogue function. */
export const header = (
  program: Program,
  kernel: Kernel,
  t: TiledMatmul,
  title: string,
  elementType: (binding: number, slot: number) => string = (_, slot) => storageType(program.slots[slot]!.dtype),
  outputElement: string = storageType(kernel.outputType),
): string[] => {
  const { lines, result } = renderBody(t.epilogue, epilogueSyntax, "  ")
  const out = kernel.outputType === "bool" ? `select(0u, 1u, ${result})` : result
  return [
    `// sdeflow kernel: ${title}; epilogue [${kernel.ops.join(", ")}]`,
    ...kernel.reads.map((slot, i) => {
      const type = elementType(i, slot)
      return type.startsWith("texture") ? `@group(0) @binding(${i}) var in${i}: ${type};` : `@group(0) @binding(${i}) var<storage, read> in${i}: array<${type}>;`
    }),
    `@group(0) @binding(${kernel.reads.length}) var<storage, read_write> out: array<${outputElement}>;`,
    `@group(0) @binding(${kernel.reads.length + 1}) var<uniform> u: array<vec4<u32>, ${Math.max(1, Math.ceil(program.uniforms.length / 4))}>;`,
    paramsDeclaration(kernel.reads.length + 2),
    wgslPrelude,
    ...(usesTrig(t.epilogue) ? [trigPrelude] : []),
    ...(usesRandom(t.epilogue) ? [rngWgsl, randomPrelude] : []),
    `fn epilogue(gid: i32, acc: f32) -> ${storageType(kernel.outputType)} {`,
    ...lines,
    `  return ${out};`,
    `}`,
  ]
}

