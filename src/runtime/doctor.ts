/**
 * `sdeflow doctor`: what the open WebGPU device is and what it allows, as plain data and as text.
 * Pure functions of a `GpuHandle`; the CLI (src/platform/cli/main.ts) opens the device.
 */
import type { AdapterSummary, GpuHandle } from "./gpu.ts"
import { knownCpuAdapter } from "./adapter-policy.ts"

/** The limits that decide what sdeflow can compile: buffer sizes, grid sizes, bindings per kernel. */
export const doctorLimitNames = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxStorageBuffersPerShaderStage",
  "maxUniformBufferBindingSize",
  "maxComputeWorkgroupsPerDimension",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupStorageSize",
  "maxBindGroups",
] as const

export type DoctorLimitName = (typeof doctorLimitNames)[number]

/** Everything `sdeflow doctor --json` prints; JSON-able. */
export interface DoctorReport {
  readonly bun: string
  readonly adapter: AdapterSummary
  readonly limits: Readonly<Record<DoctorLimitName, number>>
  readonly features: ReadonlyArray<string>
  /** Whether kernels can be timed on the device (`timestamp-query`). */
  readonly timestamps: boolean
  /** One line: "ok: WebGPU on …", with a note when the adapter is a CPU. */
  readonly verdict: string
  /** Mesa's disk cache of compiled shaders, where the platform can see it. */
  readonly shaderCache?: ShaderCache
}

/** Whether compiled shaders persist across runs (Mesa's disk cache), and how much it holds. */
export interface ShaderCache {
  readonly state: "warm" | "empty" | "disabled"
  readonly path: string
  readonly bytes: number
}

/** Software rasterisers that implement Vulkan/WebGPU on the CPU, by what their adapters report. */

/** A person's name for the adapter: its description, else device, else vendor. */
const adapterName = (a: AdapterSummary): string =>
  a.description.trim() || a.device.trim() || a.vendor.trim() || "an unnamed adapter"

/** "ok: WebGPU on <adapter>", flagging adapters that run on the CPU (every benchmark is then CPU-bound). */
export const verdictOf = (a: AdapterSummary): string => {
  const cpu = knownCpuAdapter(a)
  if (cpu) return `ok: WebGPU on ${cpu} — expect CPU speeds`
  if (a.isFallbackAdapter || a.architecture.toLowerCase() === "software")
    return `ok: WebGPU on ${adapterName(a)} (software fallback) — expect CPU speeds`
  return `ok: WebGPU on ${adapterName(a)}`
}

/** The doctor's findings for an open device; `bunVersion` is `Bun.version` (passed in to keep this portable). */
export const doctorReport = (handle: GpuHandle, bunVersion: string, shaderCache?: ShaderCache): DoctorReport => {
  const limits = Object.fromEntries(
    doctorLimitNames.map((name) => [name, Number((handle.limits as unknown as Record<string, number>)[name] ?? 0)]),
  ) as Record<DoctorLimitName, number>
  return {
    bun: bunVersion,
    adapter: { ...handle.adapter },
    limits,
    features: [...handle.features].sort(),
    timestamps: handle.features.has("timestamp-query"),
    verdict: verdictOf(handle.adapter),
    ...(shaderCache ? { shaderCache } : {}),
  }
}

const shaderCacheLine = (c: ShaderCache): string =>
  c.state === "disabled"
    ? "disabled (MESA_SHADER_CACHE_DISABLE): every run compiles every kernel again"
    : c.state === "empty"
      ? `empty (${c.path}): the first run compiles its kernels, later runs reuse them`
      : `warm, ${withUnit(c.bytes)} in ${c.path}`

/** Limits measured in bytes, shown with a binary unit too. */
const byteLimits: ReadonlySet<DoctorLimitName> = new Set([
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxUniformBufferBindingSize",
  "maxComputeWorkgroupStorageSize",
])

const withUnit = (bytes: number): string => {
  const units = ["B", "KiB", "MiB", "GiB"] as const
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${bytes} (${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]})`
}

/** Wraps comma-separated words to lines of at most `width` characters. */
const wrap = (words: ReadonlyArray<string>, width: number, indent: string): string => {
  const lines: string[] = []
  let line = ""
  for (const w of words) {
    const next = line === "" ? w : `${line}, ${w}`
    if (next.length > width && line !== "") {
      lines.push(`${line},`)
      line = w
    } else line = next
  }
  if (line !== "") lines.push(line)
  return lines.join(`\n${indent}`)
}

/** The report as text for a terminal. */
export const formatDoctor = (r: DoctorReport): string => {
  const a = r.adapter
  const pad = Math.max(...doctorLimitNames.map((n) => n.length))
  const indent = " ".repeat(13)
  return [
    `bun          ${r.bun}`,
    `adapter      ${adapterName(a)}`,
    `             vendor ${a.vendor || "?"}, architecture ${a.architecture || "?"}, device ${a.device || "?"}${a.isFallbackAdapter ? ", fallback adapter" : ""}`,
    `timestamps   ${r.timestamps ? "yes (timestamp-query)" : "no (per-pass GPU timing unavailable; wall clock only)"}`,
    `features     ${wrap(r.features, 90, indent)}`,
    "limits",
    ...doctorLimitNames.map((n) => `  ${n.padEnd(pad)}  ${byteLimits.has(n) ? withUnit(r.limits[n]) : r.limits[n]}`),
    ...(r.shaderCache ? [`shader cache ${shaderCacheLine(r.shaderCache)}`] : []),
    `verdict      ${r.verdict}`,
  ].join("\n")
}
