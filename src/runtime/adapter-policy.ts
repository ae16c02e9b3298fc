/**
 * What the adapter decides about how kernels are rendered, decided here only: which adapters run
 * shaders on the host CPU (lavapipe, SwiftShader, WARP), and the rendering choices that follow from it.
 * The executable asks `renderOptionsFor`; autotuning starts from `wgslOptionsFor`.
 */
import type { WgslOptions } from "../compile/wgsl.ts"
import type { AdapterSummary, GpuHandle } from "./gpu.ts"

export const isCpuAdapterSummary = (a: AdapterSummary): boolean => a.architecture === "software" || a.isFallbackAdapter || knownCpuAdapter(a) !== undefined

/** Adapters that run shaders on the host's cores, by what they call themselves, with a person's name for each. */
const cpuAdapters = [
  { pattern: /llvmpipe|lavapipe/i, name: "llvmpipe (CPU, lavapipe)" },
  { pattern: /swiftshader/i, name: "SwiftShader (CPU)" },
  { pattern: /warp|microsoft basic render/i, name: "WARP (CPU)" },
] as const

/** The known CPU adapter `a` is (Chromium's SwiftShader names itself only in `architecture`), or undefined. */
export const knownCpuAdapter = (a: AdapterSummary): string | undefined =>
  cpuAdapters.find((c) => c.pattern.test(`${a.vendor} ${a.architecture} ${a.device} ${a.description}`))?.name

/** A CPU adapter (lavapipe, SwiftShader): shaders run as SIMD code on the host's cores. */
export const isCpuAdapter = (gpu: GpuHandle): boolean => isCpuAdapterSummary(gpu.adapter)

/**
 * Subgroup width for spreading row-operand loads (subgroup-k-loop.ts): on CPU adapters with subgroups,
 * whose per-lane loads are what the spreading saves; GPUs broadcast a shared address from cache anyway.
 */
export const subgroupChunkFor = (gpu: GpuHandle): number =>
  isCpuAdapter(gpu) && gpu.features.has("subgroups") && gpu.adapter.subgroupMinSize >= 4 ? Math.min(8, gpu.adapter.subgroupMinSize) : 0

/** What the adapter decides, whatever the tile shapes: subgroup spreading and texture operands (both for CPU adapters). */
const adapterChoices = (gpu: GpuHandle): WgslOptions => ({ subgroupChunk: subgroupChunkFor(gpu), laneTextures: isCpuAdapter(gpu) })

/** Adapter-dependent rendering: CPU adapters skip workgroup-memory staging, spread row loads over subgroups, read lane operands from textures. */
export const wgslOptionsFor = (gpu: GpuHandle): WgslOptions => ({ workgroupMemory: !isCpuAdapter(gpu), ...adapterChoices(gpu) })

/**
 * The options an executable renders its kernels with: `chosen` (tile shapes from autotuning, which carry
 * none of the adapter's choices, or a caller's override) over the adapter's choices; without `chosen`,
 * everything the adapter decides.
 */
export const renderOptionsFor = (gpu: GpuHandle, chosen: WgslOptions = wgslOptionsFor(gpu)): WgslOptions => ({ ...adapterChoices(gpu), ...chosen })
