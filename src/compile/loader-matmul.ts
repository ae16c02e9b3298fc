/**
 * The loader form of the tiled matmul template: C[row, col] = Σ_k load_a(row, k)·load_b(k, col), stored
 * at out_index(row, col). Convolutions use it with their im2col indexing folded into load_b — no im2col
 * buffer is built. Small K runs in registers only; from SHARED_MIN_K, with `workgroupMemory`, operand
 * slices are staged in workgroup memory.
 */
import type { Kernel, Program, TiledMatmul } from "./program.ts"
import type { GemmView } from "./lower.ts"
import type { Scalar } from "./scalar.ts"
import { renderBody } from "./render.ts"
import { renderKLoop, subgroupParams, withSubgroups } from "./subgroup-k-loop.ts"
import { header, TILE_N, tileStores, type TileShape } from "./tiled-matmul.ts"
import { epilogueSyntax } from "./wgsl-syntax.ts"
import { hoistedLoader } from "./hoisted-loader.ts"
import { param, paramOffsetIndex } from "./wgsl-literal.ts"

/** K from which the workgroup-memory form pays for its barriers. */
const SHARED_MIN_K = 64
/** k-slice staged in workgroup memory per iteration. */
const TILE_K = 16
/** Workgroup shape of the workgroup-memory form. */
const WG_X = 16
const WG_Y = 8
/**
 * Lanes of a register-form workgroup, whatever the GEMM's width: one workgroup size means every
 * convolution of an epilogue shares a pipeline, and weight gradients (long k, a few hundred columns) ran
 * faster with 16 lanes than with lanes matched to the width (bench/README.md).
 */
const GEMM_LANES = 16

/** Workgroups of a loader-form kernel: x over column groups, y over row blocks. */
export const loaderGrid = (t: TiledMatmul, g: GemmView, tiles: TileShape): [number, number, number] => {
  if (tiles.workgroupMemory && g.k >= SHARED_MIN_K) return [Math.ceil(t.n / (TILE_N * WG_X)), Math.ceil(t.m / (tiles.gemmRows * WG_Y)), 1]
  return [Math.ceil(t.n / (TILE_N * GEMM_LANES)), Math.ceil(t.m / tiles.gemmRows), 1]
}

/** The loader form's WGSL: staged in workgroup memory where `tiles` asks for it and K is large enough, else registers only. */
export const renderLoaderMatmul = (program: Program, kernel: Kernel, t: TiledMatmul, g: GemmView, tiles: TileShape): string =>
  tiles.workgroupMemory && g.k >= SHARED_MIN_K ? renderSharedGemm(program, kernel, t, g, tiles.gemmRows) : renderRegisterGemm(program, kernel, t, g, tiles)

/** A scalar DAG over externals as a WGSL function with those parameters. */
const loaderFunction = (name: string, params: readonly string[], value: Scalar, type: string): string[] => {
  const { lines, result } = renderBody(value, epilogueSyntax, "  ")
  return [`fn ${name}(${params.map((p) => `${p}: i32`).join(", ")}) -> ${type} {`, ...lines, `  return ${result};`, `}`]
}

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
          `  if (tile_row + first_row + ${i} < ${param(g.m)} && tile_col + first_col + ${j} < ${param(g.n)}) { let g = out_index(tile_row + first_row + ${i}, tile_col + first_col + ${j}); out[${paramOffsetIndex("g", kernel.writeOffset)}] = epilogue(g, acc${i}[${j}]); }`,
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
  const lanes = GEMM_LANES
  // Four adjacent output columns stored as one vec4 where the layout allows (see lane-matmul.ts for why it pays).
  const vecOut = g.vecColumns && kernel.outputType === "f32" && kernel.writeOffset % TILE_N === 0
  const chunk = tiles.subgroupChunk ?? 0
  const [loadA, loadB] = [hoistedLoader("load_a", ["row", "k"], g.a, "f32"), hoistedLoader("load_b", ["k", "col"], g.b, "f32")]
  return [
    ...withSubgroups(
      chunk,
      header(program, kernel, t, `implicit GEMM, ${rowsPerThread}×${TILE_N} per thread, ${lanes} lanes on shared rows${vecOut ? ", vec4 stores" : ""}${chunk >= 2 ? `, rows spread over subgroups of ${chunk}` : ""}`, undefined, vecOut ? "vec4<f32>" : undefined),
    ),
    ...loadA.functions,
    ...loadB.functions,
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
    ...rows.flatMap((i) => loadA.prepare(`row${i}`).map((line) => `  ${line}`)),
    ...cols.flatMap((j) => loadB.prepare(`col${j}`).map((line) => `  ${line}`)),
    ...rows.map((i) => `  var acc${i} = vec${TILE_N}<f32>(0.0);`),
    ...renderKLoop({
      count: g.k,
      rows: rowsPerThread,
      chunk,
      rowOperand: (i, k) => loadA.call(k, `row${i}`, loadA.kValues.map((f) => `${f}(${k})`)),
      kValues: loadB.kValues,
      body: (k, row, kValues) => [`let b = vec${TILE_N}<f32>(${cols.map((j) => loadB.call(k, `col${j}`, kValues)).join(", ")});`, ...rows.map((i) => `acc${i} = fma(vec${TILE_N}<f32>(${row(i)}), b, acc${i});`)],
      indent: "  ",
    }),
    ...tileStores(
      kernel,
      t,
      {
        rows: rowsPerThread,
        at: (i, j) => ({ guard: `first_row + ${i} < ${param(g.m)} && first_col + ${j} < ${param(g.n)}`, index: `out_index(first_row + ${i}, first_col + ${j})` }),
      },
      vecOut,
      "  ",
    ),
    `}`,
    ``,
  ].join("\n")
}
