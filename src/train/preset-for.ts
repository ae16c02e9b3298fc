/**
 * Which CIFAR-10 preset a run gets when none is named: `cpu` on adapters that run shaders on the host CPU
 * (lavapipe, SwiftShader, WARP — `isCpuAdapterSummary` decides), `gpu` on everything else. An explicit
 * preset (`--preset`, a config file's "preset") always wins; callers only ask this when there is none.
 * Pure, so the rule is tested over adapter summaries without a device.
 */
import { isCpuAdapterSummary } from "../runtime/adapter-policy.ts"
import type { AdapterSummary } from "../runtime/gpu.ts"
import type { PresetName } from "./config.ts"

/** The preset picked for an adapter and why; the CLI and the example print `preset <preset>: <reason>`. */
export interface PresetChoice {
  readonly preset: Extract<PresetName, "cpu" | "gpu">
  readonly reason: string
}

/** How a person names the adapter: its description up to the first ":" (Mesa appends its version), else device, else vendor. */
const adapterName = (a: AdapterSummary): string =>
  a.description.split(":")[0]!.trim() || a.device.trim() || a.vendor.trim() || "this adapter"

/** What the adapter reports about itself, for the reason line: `mesa, software` or `nvidia, ampere`. */
const reported = (a: AdapterSummary): string =>
  [a.vendor.trim(), a.architecture.trim(), a.isFallbackAdapter ? "fallback adapter" : ""].filter((s) => s !== "").join(", ") || "no vendor or architecture reported"

/** The default preset for `adapter`; see the module comment. */
export const presetFor = (adapter: AdapterSummary): PresetChoice =>
  isCpuAdapterSummary(adapter)
    ? { preset: "cpu", reason: `${adapterName(adapter)} is a CPU adapter (${reported(adapter)}); --preset gpu|paper to override` }
    : { preset: "gpu", reason: `${adapterName(adapter)} is a GPU (${reported(adapter)}); sized for ~15 min on a mid-range GPU; --preset cpu|paper to override` }

