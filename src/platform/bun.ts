/**
 * The Bun platform edge: WebGPU through bun-webgpu (Dawn via bun:ffi).
 * Only this folder imports Bun-specific modules, so the core stays browser-portable.
 */
import { Gpu, openGpu, withGpuFrom, type GpuHandle, type GpuPlatform } from "../runtime/gpu.ts"
import { bunGpu } from "./bun-gpu.ts"
import { vulkanDriverReport } from "./vulkan-drivers.ts"
import { compileWorkers } from "./compile-workers.ts"
import { fileTileCache } from "./tile-cache-file.ts"

export { bunGpu } from "./bun-gpu.ts"

/** What Bun adds: the Vulkan driver report, and child processes that compile pipelines on the other cores. */
export const bunPlatform: GpuPlatform = { driverReport: vulkanDriverReport, pipelineWarmer: compileWorkers, tileCache: fileTileCache }

/** A device on Bun, for code that manages its lifetime itself (`closeGpu` when done). */
export const openBunGpu = (): Promise<GpuHandle> => openGpu(bunGpu(), bunPlatform)

/** The `Gpu` layer on Bun. */
export const BunGpu = Gpu.layerWith(bunGpu, bunPlatform)

/** `await withGpu(async (gpu) => …)`: a device for plain async scripts, closed afterwards. */
export const withGpu = <A>(body: (gpu: GpuHandle) => Promise<A>): Promise<A> => withGpuFrom(bunGpu, body, bunPlatform)
