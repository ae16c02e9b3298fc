/**
 * The strided matmul form, laid out for SIMD execution: all lanes of a workgroup work on the SAME output
 * rows and on consecutive column groups. One operand ("uniform", indexed by row and k) is then read at
 * the same address by every lane — a broadcast from cache on a GPU; on lavapipe, which loads per lane
 * regardless, it is spread over the subgroup instead (subgroup-k-loop.ts) — and only the other ("lane")
 * operand differs per lane.
 * Each thread keeps a rows × 4 register tile. On lavapipe this beat a 2-D thread grid, whose lanes sit
 * on different rows and gather both operands.
 *
 * Lanes run along the columns, unless C is too narrow to fill one SIMD vector of lanes (fewer than 32
 * columns, e.g. an MLP's output layer) and taller than wide: then the problem is transposed (Cᵀ = Bᵀ·Aᵀ,
 * views only) so that lanes run along the rows. (Transposing wider outputs as well, up to 256 columns,
 * made the 128-wide MLP layers slower, so only outputs too narrow for one vector of lanes are transposed.)
 * The measurements behind these choices: bench/README.md, "Decisions and the measurements behind them".
 */
import type { Kernel, Program, TiledMatmul } from "./program.ts"
import type { StridedView } from "./strided.ts"
import { batchOffset, epilogueBindings, header, TILE_N, tileStores, vec4Aligned, type TileShape } from "./tiled-matmul.ts"
import { renderKLoop, subgroupParams, withSubgroups } from "./subgroup-k-loop.ts"
import { storageType } from "./wgsl-syntax.ts"
import { param } from "./wgsl-literal.ts"
import { MAX_GROUPS } from "./webgpu-limits.ts"

/** Most lanes per workgroup; narrow outputs get fewer (at least one SIMD vector's worth). */
const MAX_LANES = 64
const MIN_LANES = 8

/** An operand as the template reads it: a strided view with its row/k or k/column strides named. */
interface Operand {
  readonly binding: number
  readonly view: StridedView
}

interface LaneLayout {
  /** Lanes run along C's rows (the transposed problem). */
  readonly transposed: boolean
  /** Extents of the (possibly transposed) problem: rows share a workgroup, columns spread over lanes. */
  readonly rows: number
  readonly cols: number
  readonly uniform: Operand
  readonly lane: Operand
  readonly lanes: number
  readonly rowsPerThread: number
  /** Row blocks in all, and how many workgroups cover them along y (blocks past it loop). */
  readonly rowBlocks: number
  readonly gridY: number
}

/** Lanes of a workgroup for `cols` output columns: enough column groups to cover them, 8 to 64. */
export const lanesFor = (cols: number): number => Math.min(MAX_LANES, Math.max(MIN_LANES, 2 ** Math.ceil(Math.log2(Math.ceil(cols / TILE_N)))))

/** Swaps a view's last two axes (a transpose is a view). */
const transposeView = (view: StridedView, rank: number): StridedView => ({
  ...view,
  strides: [...view.strides.slice(0, rank), view.strides[rank + 1]!, view.strides[rank]!],
})

const layoutOf = (t: TiledMatmul, tiles: TileShape): LaneLayout => {
  const rank = t.batchShape.length
  const transposed = t.n < MIN_LANES * TILE_N && t.m > t.n
  const [rows, cols] = transposed ? [t.n, t.m] : [t.m, t.n]
  const uniform = transposed ? { binding: t.b!.binding, view: transposeView(t.b!.view, rank) } : t.a!
  const lane = transposed ? { binding: t.a!.binding, view: transposeView(t.a!.view, rank) } : t.b!
  const lanes = lanesFor(cols)
  const rowsPerThread = tiles.matmulRows
  const rowBlocks = Math.ceil(rows / rowsPerThread)
  return { transposed, rows, cols, uniform, lane, lanes, rowsPerThread, rowBlocks, gridY: Math.min(rowBlocks, MAX_GROUPS) }
}

/** Workgroups: x over column groups, y over row blocks, z over the batch. */
export const laneGrid = (t: TiledMatmul, tiles: TileShape): [number, number, number] => {
  const l = layoutOf(t, tiles)
  return [Math.ceil(l.cols / (TILE_N * l.lanes)), l.gridY, t.batchShape.reduce((a, b) => a * b, 1)]
}

/** How the lane-layout template reads its operands, decided once for rendering and for the executable. */
interface LaneForms {
  readonly layout: LaneLayout
  /** Lane operand contiguous along columns: one vec4 per k holds a thread's four columns. */
  readonly vecCols: boolean
  /** Lane operand contiguous along k (a weight read as Wᵀ): vec4s along k, dotted with the uniform rows. */
  readonly alongK: boolean
  /** The uniform operand read as vec4s along k too. */
  readonly uniformVec: boolean
  /** The lane operand's vec4s come from a texture (see `OperandTexture`). */
  readonly texture?: OperandTexture
}

/**
 * A storage buffer mirrored into an rgba32float texture before the kernel runs: vec4 `i` of the buffer
 * is texel (i mod TEXTURE_ROW, i div TEXTURE_ROW). lavapipe turns a per-lane storage load into a
 * bounds-checked scalar load per lane and component, but fetches a texel per lane as one 16-byte load
 * (bench/README.md, "Decisions and the measurements behind them"). The copy is O(size of the operand)
 * against the matmul's O(m·n·k).
 */
export interface OperandTexture {
  readonly binding: number
  readonly slot: number
  /** Texels copied: the buffer's whole vec4s. */
  readonly texels: number
}

/** Texels per texture row: a power of two (the shader splits an index with & and >>), rows of 16 KiB. */
export const TEXTURE_ROW = 1024
/** WebGPU's guaranteed maxTextureDimension2D: operands up to 8192 rows of texels (128 MiB). */
const MAX_TEXTURE_ROWS = 8192

const formsOf = (program: Program, kernel: Kernel, t: TiledMatmul, tiles: TileShape): LaneForms => {
  const layout = layoutOf(t, tiles)
  const rank = t.batchShape.length
  const { uniform: ua, lane: lb } = layout
  // vec4 loads where an operand is contiguous and 16-byte aligned, unless both operands share a buffer
  // (one binding has one element type) or the epilogue reads it element by element.
  const scalarOnly = epilogueBindings(t.epilogue)
  const distinct = ua.binding !== lb.binding
  const vecOk = (o: Operand) => distinct && !scalarOnly.has(o.binding)
  const vecCols = vecOk(lb) && vec4Aligned(lb.view, rank, rank + 1, rank, layout.cols)
  const alongK = !vecCols && vecOk(lb) && vec4Aligned(lb.view, rank, rank, rank + 1, t.k)
  const uniformVec = alongK && vecOk(ua) && vec4Aligned(ua.view, rank, rank + 1, rank, t.k)
  const slot = kernel.reads[lb.binding]!
  const texels = Math.floor(program.slots[slot]!.bytes / 16)
  const texture =
    tiles.laneTextures && (vecCols || alongK) && program.slots[slot]!.dtype === "f32" && texels > 0 && texels <= TEXTURE_ROW * MAX_TEXTURE_ROWS
      ? { binding: lb.binding, slot, texels }
      : undefined
  return { layout, vecCols, alongK, uniformVec, ...(texture ? { texture } : {}) }
}

/** The operand this kernel reads through a texture, if any (the executable creates and fills it). */
export const laneTexture = (program: Program, kernel: Kernel, t: TiledMatmul, tiles: TileShape): OperandTexture | undefined =>
  formsOf(program, kernel, t, tiles).texture

export const renderLaneMatmul = (program: Program, kernel: Kernel, t: TiledMatmul, tiles: TileShape): string => {
  const { layout: l, vecCols, alongK, uniformVec, texture } = formsOf(program, kernel, t, tiles)
  const rank = t.batchShape.length
  const { uniform: ua, lane: lb } = l
  const [uRow, uK] = [ua.view.strides[rank]!, ua.view.strides[rank + 1]!]
  const [lK, lCol] = [lb.view.strides[rank]!, lb.view.strides[rank + 1]!]
  const rows = Array.from({ length: l.rowsPerThread }, (_, i) => i)
  const cols = Array.from({ length: TILE_N }, (_, j) => j)
  const elementType = (binding: number, slot: number) =>
    texture?.binding === binding
      ? "texture_2d<f32>"
      : (binding === lb.binding && (vecCols || alongK)) || (binding === ua.binding && uniformVec)
        ? "vec4<f32>"
        : storageType(program.slots[slot]!.dtype)
  /** The lane operand's vec4 at vec4 index `i`. */
  const laneVec = (i: string) => (texture ? `textureLoad(in${lb.binding}, vec2<i32>((${i}) & ${TEXTURE_ROW - 1}, (${i}) >> ${Math.log2(TEXTURE_ROW)}u), 0)` : `in${lb.binding}[${i}]`)

  const u = (i: number, k: string) => `in${ua.binding}[ua_row${i} + (${k}) * ${param(uK)}]`
  const chunk = tiles.subgroupChunk ?? 0
  const loop = alongK
    ? renderKLoop({
        count: t.k / 4,
        rows: l.rowsPerThread,
        chunk,
        rowZero: "vec4<f32>(0.0)",
        rowOperand: (i, k) => (uniformVec ? `in${ua.binding}[ua_vec${i} + ${k}]` : `vec4<f32>(${[0, 1, 2, 3].map((d) => u(i, `4 * (${k}) + ${d}`)).join(", ")})`),
        body: (k, row) => [
          ...cols.map((j) => `let lb${j} = ${laneVec(`lb_vec${j} + ${k}`)};`),
          ...rows.map((i) => `let ua${i} = ${row(i)};`),
          ...rows.map((i) => `acc${i} = acc${i} + vec4<f32>(${cols.map((j) => `dot(ua${i}, lb${j})`).join(", ")});`),
        ],
        indent: "    ",
      })
    : renderKLoop({
        count: t.k,
        rows: l.rowsPerThread,
        chunk,
        rowOperand: u,
        body: (k, row) => [
          vecCols
            ? `let lb = ${laneVec(`lb_vec0 + ${k} * ${param(lK / 4)}`)};`
            : `let lb = vec4<f32>(${cols.map((j) => `in${lb.binding}[lb_col${j} + ${k} * ${param(lK)}]`).join(", ")});`,
          ...rows.map((i) => `acc${i} = fma(vec4<f32>(${row(i)}), lb, acc${i});`),
        ],
        indent: "    ",
      })
  // Where element (row, col) of the problem lands in C (row-major [..batch, m, n]).
  const outIndex = (row: string, col: string) => (l.transposed ? `z * ${param(t.m * t.n)} + (${col}) * ${param(t.n)} + ${row}` : `z * ${param(t.m * t.n)} + (${row}) * ${param(t.n)} + ${col}`)
  // A thread's four columns are adjacent in C: stored as one vec4, which lavapipe runs much faster than
  // four scalar stores although the stores sit outside the k loop (bench/README.md).
  const vecOut = !l.transposed && kernel.outputType === "f32" && l.cols % TILE_N === 0 && kernel.writeOffset % TILE_N === 0
  const stores = tileStores(
    kernel,
    t,
    { rows: l.rowsPerThread, at: (i, j) => ({ guard: `r0 + ${i} < ${param(l.rows)} && c0 + ${j} < ${param(l.cols)}`, index: outIndex(`r0 + ${i}`, `c0 + ${j}`) }) },
    vecOut,
    "    ",
  )
  const loopsRowBlocks = l.rowBlocks > l.gridY
  const form = `${l.rowsPerThread}×${TILE_N} per thread, ${l.lanes} lanes on shared rows${l.transposed ? " (transposed)" : ""}${alongK ? ", vec4 along k" : vecCols ? ", vec4 columns" : ""}${vecOut ? ", vec4 stores" : ""}${chunk >= 2 ? `, rows spread over subgroups of ${chunk}` : ""}${texture ? ", lane operand from a texture" : ""}`
  return [
    ...withSubgroups(chunk, header(program, kernel, t, `tiled matmul${rank ? `, ${rank} batch axes` : ""}, ${form}`, elementType, vecOut ? "vec4<f32>" : undefined)),
    ``,
    `@compute @workgroup_size(${l.lanes}, 1)`,
    `fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>${subgroupParams(chunk)}) {`,
    `  let z = i32(wg.z);`,
    `  let c0 = (i32(wg.x) * ${l.lanes} + i32(lid.x)) * ${TILE_N};`,
    `  let ua_base = ${batchOffset(t, ua.view)};`,
    `  let lb_base = ${batchOffset(t, lb.view)};`,
    // Edge lanes clamp their columns (loads stay in bounds; the extra results are not stored).
    ...(vecCols ? [`  let lb_vec0 = (lb_base + min(c0, ${param(l.cols - TILE_N)})) / 4;`] : cols.map((j) => `  let lb_col${j} = lb_base + min(c0 + ${j}, ${param(l.cols - 1)}) * ${param(lCol)};`)),
    ...(alongK ? cols.map((j) => `  let lb_vec${j} = lb_col${j} / 4;`) : []),
    // The row block depends on the workgroup only, so the uniform operand's addresses are the same in every lane.
    loopsRowBlocks ? `  for (var block = i32(wg.y); block < ${param(l.rowBlocks)}; block += ${param(l.gridY)}) {` : `  { let block = i32(wg.y);`,
    `    let r0 = block * ${l.rowsPerThread};`,
    ...rows.map((i) => `    let ua_row${i} = ua_base + min(r0 + ${i}, ${param(l.rows - 1)}) * ${param(uRow)};`),
    // vec4 element indices, divided once here: i32 division in the k loop costs a polyfill call per load.
    ...(uniformVec ? rows.map((i) => `    let ua_vec${i} = ua_row${i} / 4;`) : []),
    ...rows.map((i) => `    var acc${i} = vec4<f32>(0.0);`),
    ...loop,
    ...stores,
    `  }`,
    `}`,
    ``,
  ].join("\n")
}
