/** Which adapters run shaders on the host CPU (lavapipe, SwiftShader, WARP): decided here only. */
import type { AdapterSummary } from "./gpu.ts"

export const isCpuAdapterSummary = (a: AdapterSummary): boolean =>
  a.architecture === "software" || a.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader|warp/i.test(`${a.description} ${a.device}`)
