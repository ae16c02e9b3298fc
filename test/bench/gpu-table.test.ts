/** The lent-GPU table (bench/gpu.ts): its peak lookup, and one small row measured end to end on this machine's adapter. */
import { expect, test, setDefaultTimeout } from "bun:test"
import { formatDeviceTable, peakFor, runDeviceTable } from "../../bench/gpu.ts"
import type { AdapterSummary } from "../../src/runtime/gpu.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const adapter = (device: string, description = ""): AdapterSummary => ({ vendor: "nvidia", architecture: "", device, description, isFallbackAdapter: false, subgroupMinSize: 32 })

test("the peak comes from the flags first, then the chip's datasheet, else it is unknown", () => {
  expect(peakFor(adapter("NVIDIA H200"), {})).toEqual({ gbs: 4800, tflops: 67, source: "H200 datasheet" })
  expect(peakFor(adapter("NVIDIA H100 PCIe"), {}).gbs).toBe(2000)
  expect(peakFor(adapter("NVIDIA H200"), { gbs: 4000 })).toEqual({ gbs: 4000, tflops: 67, source: "bandwidth: --peak-gbs flag; FP32: H200 datasheet" })
  expect(peakFor(adapter("llvmpipe (LLVM 15.0.6, 256 bits)"), {})).toEqual({ gbs: null, tflops: null, source: "unknown" })
})

test("a quick em-1m row: one dispatch, validated, exact against the unfused program, and timed", async () => {
  const table = await runDeviceTable({ quick: true, only: ["em-1m"], log: () => {} })
  const [row] = table.rows
  expect(row!.status).toBe("ok")
  expect(row!.dispatches).toBe(1)
  expect(row!.error).toBeLessThanOrEqual(1e-4)
  expect(row!.perSecond).toBeGreaterThan(0)
  expect(formatDeviceTable(table)).toContain("em-1m")
})
