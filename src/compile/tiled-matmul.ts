/**
 * Register-tiled WGSL for a kernel whose work is one matmul plus a fused epilogue (bias, activation,
 * residual, scale…). Each thread owns a TM×TN block of outputs and streams K once, so every loaded
 * element feeds TM or TN FMAs; operands are strided views, so transposed and broadcast operands are
 * free. No workgroup memory: barriers are costly on lavapipe and the register tile does the reuse.
 * The CPU oracle keeps the naive loop, so it checks this template.
 */
import { philoxWgsl } from "./philox.ts"
import type { Kernel, Program } from "./program.ts"
import { offsetIndex, renderBody } from "./render.ts"
import { laneGrid, lanesFor, laneTexture, renderLaneMatmul, type OperandTexture } from "./lane-matmul.ts"
import { renderKLoop, subgroupParams, withSubgroups } from "./subgroup-k-loop.ts"
import type { Scalar } from "./scalar.ts"
import type { StridedView } from "./strided.ts"
import type { GemmView } from "./lower.ts"
import { epilogueSyntax, storageType, wgslPrelude, randomPrelude, usesRandom } from "./wgsl.ts"
import { param, paramsDeclaration } from "./wgsl-literal.ts"

/** What the template needs to know about the kernel's matmul. */
export interface TiledMatmul {
  readonly batchShape: readonly number[]
  readonly m: number
  readonly n: number
  readonly k: number
  /** Strided views (binding + offset + strides over [...batch, rows, cols]) of A [.., M, K] and B [.., K, N]. */
  readonly a?: { readonly binding: number; readonly view: StridedView }
  readonly b?: { readonly binding: number; readonly view: StridedView }
  /** Or element loaders (convolutions as implicit GEMMs). */
  readonly gemm?: GemmView
  /** The kernel value with the matmul replaced by the external `acc`: the epilogue. */
  readonly epilogue: Scalar
}

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

/** Measured best on lavapipe (8 rows: 1024³ matmul 8.9 → 9.8 GFLOP/s; convs ~2× over 4 rows). */
export const defaultTiles: TileShape = { matmulRows: 8, gemmRows: 8, workgroupMemory: false }
export const TILE_N = 4
export const WG_X = 16
export const WG_Y = 8

/** Workgroups of a tiled kernel: x over column groups, y over row blocks (z over the batch: lane-matmul.ts). */
export const tiledGrid = (t: TiledMatmul, tiles: TileShape = defaultTiles): [number, number, number] => {
  if (!t.gemm) return laneGrid(t, tiles)
  if (tiles.workgroupMemory && t.gemm.k >= SHARED_MIN_K) return [Math.ceil(t.n / (TILE_N * WG_X)), Math.ceil(t.m / (tiles.gemmRows * WG_Y)), 1]
  return [Math.ceil(t.n / (TILE_N * lanesFor(t.n))), Math.ceil(t.m / tiles.gemmRows), 1]
}

/** Offset of batch element `z` in an operand: decompose z over the batch shape, dot with strides. */
export const batchOffset = (t: TiledMatmul, view: StridedView): string => {
  let terms = [param(view.offset)]
  let stride = 1
  for (let d = t.batchShape.length - 1; d >= 0; d--) {
    const size = t.batchShape[d]!
    const s = view.strides[d]!
    // Divisors stay literals (see the division note in wgsl.ts); the stride may vary.
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

export const renderTiledMatmul = (program: Program, kernel: Kernel, t: TiledMatmul, tiles: TileShape = defaultTiles): string => {
  if (t.gemm)
    return tiles.workgroupMemory && t.gemm.k >= SHARED_MIN_K
      ? renderSharedGemm(program, kernel, t, t.gemm, tiles.gemmRows)
      : renderRegisterGemm(program, kernel, t, t.gemm, tiles)
  return renderLaneMatmul(program, kernel, t, tiles)
}

/** The operand a tiled kernel reads through a texture (the strided form's lane operand), if any. */
export const tiledTexture = (program: Program, kernel: Kernel, t: TiledMatmul, tiles: TileShape = defaultTiles): OperandTexture | undefined =>
  t.gemm ? undefined : laneTexture(program, kernel, t, tiles)

/** One store of a register tile: when it is in range, where its first element lands, what it stores. */
export interface TileStore {
  readonly guard: string
  readonly index: string
  /** An accumulator expression: a vec4 (`acc3`) for vec4 stores, else one component (`acc3[1]`). */
  readonly acc: string
}

/**
 * A register tile's stores through the epilogue. With a real epilogue the raw accumulators are stored
 * first and the epilogue then runs over what was stored (each invocation re-reads only its own
 * writes). On lavapipe, epilogue code sharing live ranges with the accumulators slowed the whole
 * kernel: matmul 1024³ 17 → 13.4 GFLOP/s with `.sin()`, → 12.5 with a bias; in two phases 16.9 and 16.2.
 */
export const tileStores = (kernel: Kernel, t: TiledMatmul, stores: readonly TileStore[], vec: boolean, indent: string): string[] => {
  const at = vec ? `(${offsetIndex("g", kernel.writeOffset, param)}) / 4` : offsetIndex("g", kernel.writeOffset, param)
  const apply = (v: string) => (vec ? `vec4<f32>(${[0, 1, 2, 3].map((j) => `epilogue(g + ${j}, ${v}[${j}])`).join(", ")})` : `epilogue(g, ${v})`)
  const line = (s: TileStore, body: string) => `${indent}if (${s.guard}) { let g = ${s.index}; ${body} }`
  if (t.epilogue.op.k === "external" || kernel.outputType !== "f32") return stores.map((s) => line(s, `out[${at}] = ${apply(s.acc)};`))
  return [...stores.map((s) => line(s, `out[${at}] = ${s.acc};`)), ...stores.map((s) => line(s, `let v = out[${at}]; out[${at}] = ${apply("v")};`))]
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
    ...(usesRandom(t.epilogue) ? [philoxWgsl, randomPrelude] : []),
    `fn epilogue(gid: i32, acc: f32) -> ${storageType(kernel.outputType)} {`,
    ...lines,
    `  return ${out};`,
    `}`,
  ]
}

/** A scalar DAG over externals as a WGSL function with those parameters. */
const loaderFunction = (name: string, params: readonly string[], value: Scalar, type: string): string[] => {
  const { lines, result } = renderBody(value, epilogueSyntax, "  ")
  return [`fn ${name}(${params.map((p) => `${p}: i32`).join(", ")}) -> ${type} {`, ...lines, `  return ${result};`, `}`]
}

/**
 * The loader form: C[row, col] = Σ_k load_a(row, k)·load_b(k, col), stored at out_index(row, col).
 * Convolutions use it with their im2col indexing folded into load_b — no im2col buffer is built.
 */
/** K from which the workgroup-memory form pays for its barriers. */
const SHARED_MIN_K = 64
/** k-slice staged in workgroup memory per iteration. */
const TILE_K = 16

/**
 * The workgroup-memory form: the 128 threads of a workgroup first stage a 64×16 slice of A and a 16×64
 * slice of B (each element loaded — im2col indexing and bounds included — once per workgroup instead of
 * once per thread that needs it), then each thread runs its 8×4 register tile out of workgroup memory.
 * Two barriers per 16-wide k-slice.
 */
const renderSharedGemm = (program: Program, kernel: Kernel, t: TiledMatmul, g: GemmView, rowsPerThread: number): string => {
  const tileRows = rowsPerThread * WG_Y
  const tileCols = TILE_N * WG_X
  const threads = WG_X * WG_Y
  const rows = Array.from({ length: rowsPerThread }, (_, i) => i)
  const cols = Array.from({ length: TILE_N }, (_, j) => j)
  const aLoads = (tileRows * TILE_K) / threads
  const bLoads = (tileCols * TILE_K) / threads
  return [
    ...header(program, kernel, t, `implicit GEMM, ${rowsPerThread}×${TILE_N} per thread, ${tileRows}×${TILE_K} / ${TILE_K}×${tileCols} slices in workgroup memory`),
    ...loaderFunction("load_a", ["row", "k"], g.a, "f32"),
    ...loaderFunction("load_b", ["k", "col"], g.b, "f32"),
    ...loaderFunction("out_index", ["row", "col"], g.out, "i32"),
    `var<workgroup> a_tile: array<f32, ${tileRows * TILE_K}>;`,
    `var<workgroup> b_tile: array<f32, ${tileCols * TILE_K}>;`,
    ``,
    `@compute @workgroup_size(${WG_X}, ${WG_Y})`,
    `fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_id) local: vec3<u32>, @builtin(local_invocation_index) lane: u32) {`,
    `  let tile_row = i32(group.y) * ${tileRows};`,
    `  let tile_col = i32(group.x) * ${tileCols};`,
    `  let first_row = i32(local.y) * ${rowsPerThread};`,
    `  let first_col = i32(local.x) * ${TILE_N};`,
    ...rows.map((i) => `  var acc${i} = vec${TILE_N}<f32>(0.0);`),
    `  for (var k0: i32 = 0; k0 < ${param(g.k)}; k0 += ${TILE_K}) {`,
    `    // Stage the slices; out-of-range elements are zeros, so edge tiles need no other care.`,
    `    for (var i: i32 = 0; i < ${aLoads}; i++) {`,
    `      let e = i32(lane) + i * ${threads};`,
    `      let r = e / ${TILE_K};`,
    `      let kk = e % ${TILE_K};`,
    `      let row = tile_row + r;`,
    `      let k = k0 + kk;`,
    `      a_tile[kk * ${tileRows} + r] = select(0.0, load_a(min(row, ${param(g.m - 1)}), min(k, ${param(g.k - 1)})), row < ${param(g.m)} && k < ${param(g.k)});`,
    `    }`,
    `    for (var i: i32 = 0; i < ${bLoads}; i++) {`,
    `      let e = i32(lane) + i * ${threads};`,
    `      let kk = e / ${tileCols};`,
    `      let c = e % ${tileCols};`,
    `      let col = tile_col + c;`,
    `      let k = k0 + kk;`,
    `      b_tile[kk * ${tileCols} + c] = select(0.0, load_b(min(k, ${param(g.k - 1)}), min(col, ${param(g.n - 1)})), col < ${param(g.n)} && k < ${param(g.k)});`,
    `    }`,
    `    workgroupBarrier();`,
    `    for (var kk: i32 = 0; kk < ${TILE_K}; kk++) {`,
    `      let b_base = kk * ${tileCols} + first_col;`,
    `      let b = vec${TILE_N}<f32>(${cols.map((j) => `b_tile[b_base + ${j}]`).join(", ")});`,
    `      let a_base = kk * ${tileRows} + first_row;`,
    ...rows.map((i) => `      acc${i} = fma(vec${TILE_N}<f32>(a_tile[a_base + ${i}]), b, acc${i});`),
    `    }`,
    `    workgroupBarrier();`,
    `  }`,
    ...rows.flatMap((i) =>
      cols.map(
        (j) =>
          `  if (tile_row + first_row + ${i} < ${param(g.m)} && tile_col + first_col + ${j} < ${param(g.n)}) { let g = out_index(tile_row + first_row + ${i}, tile_col + first_col + ${j}); out[${offsetIndex("g", kernel.writeOffset, param)}] = epilogue(g, acc${i}[${j}]); }`,
      ),
    ),
    `}`,
    ``,
  ].join("\n")
}

/** The register-only form (small K: a workgroup-memory slice would be mostly padding). */
const renderRegisterGemm = (program: Program, kernel: Kernel, t: TiledMatmul, g: GemmView, tiles: TileShape): string => {
  const rowsPerThread = tiles.gemmRows
  const rows = Array.from({ length: rowsPerThread }, (_, i) => i)
  const cols = Array.from({ length: TILE_N }, (_, j) => j)
  const lanes = lanesFor(g.n)
  // Four adjacent output columns stored as one vec4 where the layout allows (see lane-matmul.ts for why it pays).
  const vecOut = g.vecColumns && kernel.outputType === "f32" && kernel.writeOffset % TILE_N === 0
  const chunk = tiles.subgroupChunk ?? 0
  return [
    ...withSubgroups(
      chunk,
      header(program, kernel, t, `implicit GEMM, ${rowsPerThread}×${TILE_N} per thread, ${lanes} lanes on shared rows${vecOut ? ", vec4 stores" : ""}${chunk >= 2 ? `, rows spread over subgroups of ${chunk}` : ""}`, undefined, vecOut ? "vec4<f32>" : undefined),
    ),
    ...loaderFunction("load_a", ["row", "k"], g.a, "f32"),
    ...loaderFunction("load_b", ["k", "col"], g.b, "f32"),
    ...loaderFunction("out_index", ["row", "col"], g.out, "i32"),
    ``,
    // As in lane-matmul.ts: the lanes of a workgroup share their rows, so load_a (the weights) reads the
    // same address in every lane and only load_b (the im2col gather) differs per lane.
    `@compute @workgroup_size(${lanes}, 1)`,
    `fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>${subgroupParams(chunk)}) {`,
    `  let first_row = i32(wg.y) * ${rowsPerThread};`,
    `  let first_col = (i32(wg.x) * ${lanes} + i32(lid.x)) * ${TILE_N};`,
    `  // Edge tiles clamp their row/column (loads stay in bounds; the extra results are not stored).`,
    ...rows.map((i) => `  let row${i} = min(first_row + ${i}, ${param(g.m - 1)});`),
    ...cols.map((j) => `  let col${j} = min(first_col + ${j}, ${param(g.n - 1)});`),
    ...rows.map((i) => `  var acc${i} = vec${TILE_N}<f32>(0.0);`),
    ...renderKLoop({
      count: g.k,
      rows: rowsPerThread,
      chunk,
      rowOperand: (i, k) => `load_a(row${i}, ${k})`,
      body: (k, row) => [`let b = vec${TILE_N}<f32>(${cols.map((j) => `load_b(${k}, col${j})`).join(", ")});`, ...rows.map((i) => `acc${i} = fma(vec${TILE_N}<f32>(${row(i)}), b, acc${i});`)],
      indent: "  ",
    }),
    ...tileStores(
      kernel,
      t,
      vecOut
        ? rows.map((i) => ({ guard: `first_row + ${i} < ${param(g.m)} && first_col < ${param(g.n)}`, index: `out_index(row${i}, first_col)`, acc: `acc${i}` }))
        : rows.flatMap((i) => cols.map((j) => ({ guard: `first_row + ${i} < ${param(g.m)} && first_col + ${j} < ${param(g.n)}`, index: `out_index(row${i}, col${j})`, acc: `acc${i}[${j}]` }))),
      vecOut,
      "  ",
    ),
    `}`,
    ``,
  ].join("\n")
}
