/**
 * Per-adapter choice of contraction tile shapes, measured once per device: a 256³ matmul with 4 or 8
 * rows per thread, and a UNet-sized 3×3 convolution with 4 or 8 rows, staged in workgroup memory or
 * not. The fastest of each (GPU timestamps) is kept for every later program on that adapter.
 */
import type { GpuHandle } from "./gpu.ts"
import { defaultTiles, type TileShape } from "../compile/tiled-matmul.ts"
import { buildProgram } from "../compile/program.ts"
import { conv2d, input } from "../ir/tensor.ts"
import type { Node } from "../ir/node.ts"
import { webgpuExecutable, wgslOptionsFor } from "./webgpu-executable.ts"

/** Choices by adapter (a process that opens several devices on one adapter measures once). */
const tuned = new Map<string, Promise<TileShape>>()

/**
 * The tile shapes for `gpu`, measured on first use (defaults without timestamp queries). Every choice
 * sums each output over k in the same order, so results do not depend on which one wins.
 */
export const tunedTiles = (gpu: GpuHandle): Promise<TileShape> => {
  const key = `${gpu.adapter.vendor}|${gpu.adapter.architecture}|${gpu.adapter.device}|${gpu.adapter.description}`
  let choice = tuned.get(key)
  if (!choice) {
    choice = gpu.features.has("timestamp-query") ? measure(gpu) : Promise.resolve({ ...defaultTiles, ...wgslOptionsFor(gpu) })
    tuned.set(key, choice)
  }
  return choice
}

/** Fastest of `candidates` for the one-output program `out` (median-free: best of two timed runs). */
const fastest = async (gpu: GpuHandle, out: Node, candidates: readonly TileShape[]): Promise<{ tiles: TileShape; ms: number }[]> => {
  const program = buildProgram({ out }, { maxStorageBuffers: gpu.limits.maxStorageBuffersPerShaderStage })
  const inputs = Object.fromEntries(program.inputs.map((i) => [i.name, new Float32Array(i.shape.reduce((a, b) => a * b, 1)).fill(0.5)]))
  const timings: { tiles: TileShape; ms: number }[] = []
  for (const tiles of candidates) {
    const exe = await webgpuExecutable(gpu, program, tiles)
    exe.run(inputs)
    let best = Infinity
    for (let r = 0; r < 2; r++) best = Math.min(best, (await exe.profile(inputs)).reduce((s, k) => s + k.ms, 0))
    exe.destroy()
    timings.push({ tiles, ms: best })
  }
  return timings.sort((a, b) => a.ms - b.ms)
}

const measure = async (gpu: GpuHandle): Promise<TileShape> => {
  const matmul = input("a", [256, 256]).matmul(input("b", [256, 256])).node
  const conv = conv2d(input("x", [4, 32, 16, 16]), input("w", [32, 32, 3, 3]), { padding: 1 }).node
  const [bestMatmul] = await fastest(gpu, matmul, [4, 8].map((rows) => ({ ...defaultTiles, matmulRows: rows })))
  const gemmCandidates = [4, 8].flatMap((rows) => [false, true].map((workgroupMemory) => ({ ...defaultTiles, gemmRows: rows, workgroupMemory })))
  const [bestConv] = await fastest(gpu, conv, gemmCandidates)
  return { matmulRows: bestMatmul!.tiles.matmulRows, gemmRows: bestConv!.tiles.gemmRows, workgroupMemory: bestConv!.tiles.workgroupMemory }
}
