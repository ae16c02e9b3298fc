/** The `GPU` entry point on Bun: bun-webgpu's globals (Dawn via bun:ffi), installed once. */
import { setupGlobals } from "bun-webgpu"
import { installPoliteTicker } from "./polite-ticker.ts"
import { readDebugFrom } from "../runtime/debug.ts"

let installed = false

/** The `GPU` entry point on Bun, installing bun-webgpu's globals once. */
export const bunGpu = (): GPU => {
  // Mesa's lavapipe logs an error on every start without it.
  process.env.XDG_RUNTIME_DIR ??= "/tmp"
  if (!installed) {
    setupGlobals()
    // Unless SDEFLOW_GPU_POLL=spin: bun-webgpu's own busy poll (see polite-ticker.ts).
    if (process.env.SDEFLOW_GPU_POLL !== "spin") installPoliteTicker(navigator.gpu)
    readDebugFrom(() => process.env.SDEFLOW_DEBUG)
    installed = true
  }
  return navigator.gpu
}
