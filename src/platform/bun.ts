/**
 * The Bun platform edge: WebGPU through bun-webgpu (Dawn via bun:ffi).
 * Only this folder imports Bun-specific modules, so the core stays browser-portable.
 */
import { setupGlobals } from "bun-webgpu"
import { Gpu, withGpuFrom, type GpuHandle } from "../runtime/gpu.ts"
import { installPoliteTicker } from "./polite-ticker.ts"
import { vulkanDriverReport } from "./vulkan-drivers.ts"

let installed = false

/** The `GPU` entry point on Bun, installing bun-webgpu's globals once. */
export const bunGpu = (): GPU => {
  // Mesa's lavapipe logs an error on every start without it.
  process.env.XDG_RUNTIME_DIR ??= "/tmp"
  if (!installed) {
    setupGlobals()
    // Unless SDEFLOW_GPU_POLL=spin: bun-webgpu's own busy poll (see polite-ticker.ts).
    if (process.env.SDEFLOW_GPU_POLL !== "spin") installPoliteTicker(navigator.gpu)
    installed = true
  }
  return navigator.gpu
}

/** The `Gpu` layer on Bun. */
export const BunGpu = Gpu.layerWith(bunGpu, vulkanDriverReport)

/** `await withGpu(async (gpu) => …)`: a device for plain async scripts, closed afterwards. */
export const withGpu = <A>(body: (gpu: GpuHandle) => Promise<A>): Promise<A> => withGpuFrom(bunGpu, body, vulkanDriverReport)
