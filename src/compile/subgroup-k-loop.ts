/**
 * The k loop of a kernel whose lanes share their output rows, with the row operand spread over a
 * subgroup. In the lane layout every lane reads the same row-operand element at each k; a GPU serves
 * that from one cache line, but lavapipe (Mesa 25) issues a bounds-checked scalar load per lane for
 * every storage-buffer access, uniform address or not — eight loads for one value. Spread over the
 * subgroup instead, lane s loads the element of k0 + s, and `subgroupBroadcast(u, j)` hands lane j's
 * value to all: each element is loaded once per chunk of `chunk` k's (bench/README.md, "Subgroups and
 * texture operands", has the measurements).
 *
 * `chunk` must not exceed the adapter's smallest subgroup, and every lane of the workgroup must be
 * in the loop (the loops here have constant bounds, so control flow stays uniform).
 */

import { param } from "./wgsl-literal.ts"

/** Built-in parameter that gives a lane its index in the subgroup. */
export const subgroupLaneParam = "@builtin(subgroup_invocation_id) sg_lane: u32"

export interface KLoop {
  /** Trip count. */
  readonly count: number
  /** Rows of the register tile (one row-operand value each per k). */
  readonly rows: number
  /** Lanes per subgroup chunk (0: no subgroups, one load per lane as before). */
  readonly chunk: number
  /** The row operand's zero (its type's), for lanes past the last k. Default `0.0`. */
  readonly rowZero?: string
  /** Expression of row `i`'s row-operand element at iteration `k` (a WGSL i32 expression). */
  readonly rowOperand: (i: number, k: string) => string
  /**
   * Functions of k whose values an iteration needs (a loader's work on k alone). Within a chunk, lane s
   * computes them at k0 + s and the subgroup shares them, as with the row operand.
   */
  readonly kValues?: readonly string[]
  /** Lines of one iteration at `k` (a name in scope), given the expression of row `i`'s value and the k values' names. */
  readonly body: (k: string, row: (i: number) => string, kValues: readonly string[]) => string[]
  readonly indent: string
}

const kValueNames = (l: KLoop): string[] => (l.kValues ?? []).map((_, v) => `k_value${v}`)

const plainLoop = (l: KLoop): string[] => [
  `${l.indent}for (var k: i32 = 0; k < ${param(l.count)}; k++) {`,
  ...(l.kValues ?? []).map((f, v) => `${l.indent}  let k_value${v} = ${f}(k);`),
  ...l.body("k", (i) => l.rowOperand(i, "k"), kValueNames(l)).map((line) => `${l.indent}  ${line}`),
  `${l.indent}}`,
]

/**
 * The loop, chunked over the subgroup where `chunk` allows. A count that is not a multiple of the chunk
 * runs a last, partial chunk: lanes past the end load at the last k and contribute zeros, so every
 * count has one loop (and one form) rather than a remainder loop of its own.
 */
export const renderKLoop = (l: KLoop): string[] => {
  if (l.chunk < 2 || l.count < l.chunk) return plainLoop(l)
  const rows = Array.from({ length: l.rows }, (_, i) => i)
  const lane = Array.from({ length: l.chunk }, (_, j) => j)
  const inner = `${l.indent}  `
  const last = param(l.count - 1)
  return [
    `${l.indent}let sg_k = i32(sg_lane % ${l.chunk}u);`,
    `${l.indent}for (var k0: i32 = 0; k0 < ${param(Math.ceil(l.count / l.chunk) * l.chunk)}; k0 += ${l.chunk}) {`,
    `${inner}let lane_k = min(k0 + sg_k, ${last});`,
    `${inner}let lane_live = k0 + sg_k < ${param(l.count)};`,
    ...rows.map((i) => `${inner}let row_value${i} = select(${l.rowZero ?? "0.0"}, ${l.rowOperand(i, "lane_k")}, lane_live);`),
    ...(l.kValues ?? []).map((f, v) => `${inner}let lane_k_value${v} = ${f}(lane_k);`),
    ...lane.flatMap((j) => [
      `${inner}{`,
      `${inner}  let k = min(k0 + ${j}, ${last});`,
      ...(l.kValues ?? []).map((_, v) => `${inner}  let k_value${v} = subgroupBroadcast(lane_k_value${v}, ${j}u);`),
      ...l.body("k", (i) => `subgroupBroadcast(row_value${i}, ${j}u)`, kValueNames(l)).map((line) => `${inner}  ${line}`),
      `${inner}}`,
    ]),
    `${l.indent}}`,
  ]
}

/** A kernel's declarations with the directive `chunk` needs, placed after the title comment (line 0 names the kernel's form). */
export const withSubgroups = (chunk: number, [title, ...declarations]: readonly string[]): string[] =>
  chunk >= 2 ? [title!, "enable subgroups;", ...declarations] : [title!, ...declarations]

/** The main function's extra parameter for `chunk`. */
export const subgroupParams = (chunk: number): string => (chunk >= 2 ? `, ${subgroupLaneParam}` : "")
