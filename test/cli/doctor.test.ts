import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { doctorLimitNames, doctorReport, formatDoctor, verdictOf } from "../../src/runtime/doctor.ts"
import type { AdapterSummary, GpuHandle } from "../../src/runtime/gpu.ts"
import { isCpuAdapterSummary, knownCpuAdapter } from "../../src/runtime/adapter-policy.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const llvmpipe: AdapterSummary = {
  vendor: "mesa",
  architecture: "software",
  device: "llvmpipe-llvm-15-0-6-256-bits",
  description: "llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1",
  isFallbackAdapter: false,
  subgroupMinSize: 8,
}
const h200: AdapterSummary = {
  vendor: "nvidia",
  architecture: "hopper",
  device: "",
  description: "NVIDIA H200",
  isFallbackAdapter: false,
  subgroupMinSize: 32,
}

/** A handle with only what the doctor reads; the device itself is never touched. */
const fakeHandle = (adapter: AdapterSummary, features: string[], limits: Record<string, number>): GpuHandle =>
  ({ adapter, features: new Set(features), limits }) as unknown as GpuHandle

const limits = Object.fromEntries(doctorLimitNames.map((n, i) => [n, 1000 + i]))

describe("doctorReport", () => {
  test("copies the adapter, the named limits, and the features in sorted order", () => {
    const report = doctorReport(fakeHandle(h200, ["timestamp-query", "shader-f16", "core-features-and-limits"], { ...limits, maxTextureDimension1D: 8192 }), "1.4.5")
    expect(report.bun).toBe("1.4.5")
    expect(report.adapter).toEqual(h200)
    expect(report.features).toEqual(["core-features-and-limits", "shader-f16", "timestamp-query"])
    expect(report.limits.maxStorageBufferBindingSize).toBe(limits.maxStorageBufferBindingSize!)
    expect(report.limits.maxComputeWorkgroupStorageSize).toBe(limits.maxComputeWorkgroupStorageSize!)
    expect(Object.keys(report.limits)).not.toContain("maxTextureDimension1D")
    expect(JSON.parse(JSON.stringify(report))).toEqual(report)
  })

  test("timestamps follow the timestamp-query feature", () => {
    expect(doctorReport(fakeHandle(h200, ["timestamp-query"], limits), "x").timestamps).toBe(true)
    expect(doctorReport(fakeHandle(h200, ["shader-f16"], limits), "x").timestamps).toBe(false)
  })

  test("the verdict names a GPU plainly and warns about CPU adapters", () => {
    expect(verdictOf(h200)).toBe("ok: WebGPU on NVIDIA H200")
    expect(verdictOf(llvmpipe)).toBe("ok: WebGPU on llvmpipe (CPU, lavapipe) — expect CPU speeds")
    expect(verdictOf({ ...h200, description: "SwiftShader Device (Subzero)" })).toContain("SwiftShader (CPU)")
    expect(verdictOf({ ...h200, description: "", device: "Some Emulator", isFallbackAdapter: true })).toBe(
      "ok: WebGPU on Some Emulator (software fallback) — expect CPU speeds",
    )
  })

  test("the text report shows byte limits with units and ends with the verdict", () => {
    const text = formatDoctor(doctorReport(fakeHandle(llvmpipe, ["timestamp-query"], { ...limits, maxStorageBufferBindingSize: 134217728 }), "1.4.5"))
    expect(text).toContain("maxStorageBufferBindingSize")
    expect(text).toContain("134217728 (128 MiB)")
    expect(text).toContain(llvmpipe.description)
    expect(text.trim().split("\n").at(-1)).toBe("verdict      ok: WebGPU on llvmpipe (CPU, lavapipe) — expect CPU speeds")
  })
})

/** Runs the CLI in a child process, as a user would. */
const cli = (args: string[], env: Record<string, string> = {}) => {
  const r = Bun.spawnSync([process.execPath, "src/platform/cli/main.ts", ...args], {
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? "/tmp", ...env },
  })
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() }
}

describe("sdeflow CLI", () => {
  test("doctor --json prints only a JSON report that names this machine's adapter", () => {
    const r = cli(["doctor", "--json"])
    expect(r.code).toBe(0)
    const report = JSON.parse(r.stdout)
    expect(Object.keys(report).sort()).toEqual(["adapter", "bun", "features", "limits", "shaderCache", "timestamps", "verdict"])
    expect(["warm", "empty", "disabled"]).toContain(report.shaderCache.state)
    expect(report.bun).toBe(Bun.version)
    expect(Object.keys(report.adapter).sort()).toEqual(["architecture", "description", "device", "isFallbackAdapter", "subgroupMinSize", "vendor"])
    expect(report.adapter.description.length).toBeGreaterThan(0)
    for (const name of doctorLimitNames) expect(report.limits[name]).toBeGreaterThan(0)
    expect(report.features).toEqual([...report.features].sort())
    expect(typeof report.timestamps).toBe("boolean")
    expect(report.verdict).toStartWith("ok: WebGPU on ")
  })

  test("doctor without --json prints the text report", () => {
    const r = cli(["doctor"])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain("maxStorageBufferBindingSize")
    expect(r.stdout).toContain("verdict      ok: WebGPU on ")
  })

  test("--help exits 0 and lists doctor", () => {
    const r = cli(["--help"])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/SUBCOMMANDS[\s\S]*\bdoctor\b/)
  })

  test("with no adapter, doctor prints the install hint on stderr and exits 2", () => {
    // SDEFLOW_FAKE_NO_ADAPTER is the test hook of src/platform/cli/main.ts: its WebGPU provider finds no adapter.
    const r = cli(["doctor", "--json"], { SDEFLOW_FAKE_NO_ADAPTER: "1" })
    expect(r.code).toBe(2)
    expect(r.stdout).toBe("")
    expect(r.stderr).toContain("No WebGPU adapter was found")
    expect(r.stderr).toContain("apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1")
  })
})

describe("CPU adapters are known by any field that names them", () => {
  // Chromium's SwiftShader names itself only in `architecture`; WARP by its long name.
  const swiftshader: AdapterSummary = { vendor: "google", architecture: "swiftshader", device: "", description: "", isFallbackAdapter: false, subgroupMinSize: 4 }
  const warp: AdapterSummary = { ...h200, vendor: "microsoft", architecture: "", description: "Microsoft Basic Render Driver" }
  test.each([
    ["lavapipe", llvmpipe, true, "llvmpipe (CPU, lavapipe)"],
    ["Chromium's SwiftShader", swiftshader, true, "SwiftShader (CPU)"],
    ["WARP", warp, true, "WARP (CPU)"],
    ["an H200", h200, false, undefined],
  ] as const)("%s", (_, adapter, cpu, name) => {
    expect(isCpuAdapterSummary(adapter)).toBe(cpu)
    expect(knownCpuAdapter(adapter)).toBe(name)
    if (name) expect(verdictOf(adapter)).toContain(name)
  })
})
