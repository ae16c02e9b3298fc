/**
 * SDEFLOW_DEBUG, the switch for debug output ("kernels": every kernel's WGSL; "compile": each pipeline's compile
 * time). Where its value comes from is the platform's — the environment on Bun (src/platform/bun-gpu.ts) — so
 * this layer reads no `process` global; in a page it stays off.
 */
let setting: () => string | undefined = () => undefined

/** Reads SDEFLOW_DEBUG through `read` from now on (a platform calls this when it installs WebGPU). */
export const readDebugFrom = (read: () => string | undefined): void => {
  setting = read
}

/** Whether SDEFLOW_DEBUG names `topic`. */
export const debugging = (topic: "kernels" | "compile"): boolean => setting()?.includes(topic) ?? false
