/**
 * The benchmark's pure parts as specifications: the results schema (and its checked-in JSON Schema),
 * the fused/unfused agreement rule, medians, the targets and the table.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { readFileSync } from "node:fs"
import { median, relativeError, worstDisagreement } from "../../bench/agreement.ts"
import { mesaVersion } from "../../bench/machine.ts"
import { resultsJsonSchema, validateResults, type BenchResults, type Variant, type WorkloadResult } from "../../bench/results.ts"
import { formatReport, formatTable } from "../../bench/table.ts"
import { checkTargets } from "../../bench/targets.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const variant = (ms: number, dispatches: number): Variant => ({
  dispatches,
  kernels: dispatches,
  bytes: 32e6,
  flops: 5e7,
  compileMs: 12,
  ms,
  wallMs: ms + 1,
  reps: 5,
  gbPerS: 32e6 / (ms / 1e3) / 1e9,
  gflopPerS: 5e7 / (ms / 1e3) / 1e9,
  hot: [{ name: "k0_add", ms, ops: ["mul", "add"] }],
})

const workload = (id: string, fusedMs: number, unfusedMs: number, torchMs: number | null): WorkloadResult => ({
  id,
  title: id,
  size: "x [4]",
  bound: "memory",
  note: null,
  status: "ok",
  error: null,
  maxRelativeError: 0,
  fused: variant(fusedMs, 1),
  unfused: variant(unfusedMs, 14),
  torchMs,
  fusedOverUnfused: fusedMs / unfusedMs,
  sdeflowOverTorch: torchMs === null ? null : fusedMs / torchMs,
})

const synthetic = (workloads: WorkloadResult[]): BenchResults => ({
  version: 1,
  mode: "quick",
  timing: "gpu-timestamps",
  machine: { cpu: "AMD EPYC", cores: 2, loadStart: 0.5, loadEnd: 0.7, adapter: "llvmpipe", timestamps: true, tiles: "matmul rows 8, convolution rows 8, workgroup memory off", bun: "1.4.5", dawn: "Dawn via bun-webgpu 0.1.7", mesa: "25.0.7", date: "2026-11-28T00:00:00.000Z" },
  peer: { status: "ran", detail: "PyTorch 1.13 eager, 2 threads" },
  workloads,
  targets: checkTargets(workloads),
  wallSeconds: 3.5,
})

describe("results schema", () => {
  test("a tiny synthetic result validates", () => {
    const results = synthetic([workload("em-4m", 8, 48, 23)])
    expect(validateResults(JSON.parse(JSON.stringify(results)))).toEqual(results)
  })

  test("a negative time and an unknown status are rejected, each named by its path", () => {
    const bad = JSON.parse(JSON.stringify(synthetic([workload("em-4m", 8, 48, 23)])))
    bad.workloads[0].fused.ms = -1
    bad.workloads[0].status = "fast"
    let message = ""
    try {
      validateResults(bad)
    } catch (e) {
      message = String(e)
    }
    expect(message).toContain(`["fused"]["ms"]`)
    expect(message).toContain(`["status"]`)
  })

  test("a key the schema does not know is an error, not silently kept", () => {
    const extra = { ...synthetic([]), speedup: 100 }
    expect(() => validateResults(extra)).toThrow(/speedup/)
  })

  test("bench/results.schema.json is the JSON Schema generated from the Effect Schema (run bench/results.ts to refresh)", () => {
    const checkedIn = JSON.parse(readFileSync(new URL("../../bench/results.schema.json", import.meta.url), "utf8"))
    expect(checkedIn).toEqual(resultsJsonSchema())
    expect(checkedIn.$schema).toBe("https://json-schema.org/draft/2020-12/schema")
    expect(checkedIn.required).toContain("workloads")
  })
})

describe("fused/unfused agreement", () => {
  test("error is relative to the output's ∞-norm", () => {
    expect(relativeError([10, -20, 5], [10, -20, 5.002])).toBeCloseTo(0.002 / 20, 12)
  })

  test("a NaN or a length mismatch is infinitely wrong", () => {
    expect(relativeError([1, NaN], [1, 2])).toBe(Infinity)
    expect(relativeError([1, 2], [1, 2, 3])).toBe(Infinity)
  })

  test("a gradient that is zero in exact arithmetic is judged on the program's scale, not its own", () => {
    const pairs = [
      { name: "grad/conv.weight", fused: [0.01, -0.02], unfused: [0.01, -0.02] },
      // rounding noise of a bias before a GroupNorm: 50% apart relative to itself
      { name: "grad/conv1.bias", fused: [6e-11], unfused: [4e-11] },
    ]
    expect(worstDisagreement(pairs).error).toBeLessThan(1e-4)
  })

  test("a wrong output of ordinary size is found and named", () => {
    const pairs = [
      { name: "loss", fused: [1.5], unfused: [1.5] },
      { name: "grad/w", fused: [0.3, 0.2], unfused: [0.3, 0.25] },
    ]
    const worst = worstDisagreement(pairs)
    expect(worst.output).toBe("grad/w")
    expect(worst.error).toBeCloseTo(0.05 / 0.3, 9)
  })

  test("median of an odd and an even count", () => {
    expect(median([5, 1, 3])).toBe(3)
    expect(median([4, 1, 3, 2])).toBe(2.5)
  })
})

describe("targets and table", () => {
  test("the issue's EM targets are met by an 8 ms fused step that is 6× the unfused one and 0.2× PyTorch", () => {
    const targets = checkTargets([workload("em-4m", 8, 48, 40)])
    const byName = (part: string) => targets.find((t) => t.name.includes(part))!
    expect(byName("dispatches").met).toBe(true)
    expect(byName("unfused time / fused time").measured).toBeCloseTo(6, 9)
    expect(byName("EM step 4M states: sdeflow time").met).toBe(true)
    expect(byName("MLP DSM").met).toBeNull() // not measured in this run
  })

  test("a skipped peer leaves the PyTorch targets unmeasured rather than failed", () => {
    const targets = checkTargets([workload("em-4m", 8, 48, null)])
    expect(targets.find((t) => t.name.includes("PyTorch") && t.name.startsWith("EM"))!.met).toBeNull()
  })

  test("the table has one row per workload, mismatches included with their reason", () => {
    const mismatch: WorkloadResult = { ...workload("unet-train", 1, 1, null), status: "mismatch", error: "output \"grad/w\" differs", fused: null, unfused: null, fusedOverUnfused: null }
    const table = formatTable([workload("em-4m", 8, 48, 23), mismatch])
    const lines = table.split("\n")
    expect(lines).toHaveLength(4)
    expect(lines[2]).toContain("1/14")
    expect(lines[2]).toContain("0.348") // 8 / 23
    expect(lines[3]).toContain("MISMATCH: output \"grad/w\" differs")
    expect(formatReport(synthetic([workload("em-4m", 8, 48, 23)]))).toContain("Mesa 25.0.7")
  })

  test("the Mesa release is read from a lavapipe adapter description", () => {
    expect(mesaVersion("llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1")).toBe("25.0.7-2~bpo12+1")
    expect(mesaVersion("NVIDIA GeForce RTX 4090")).toBeNull()
  })
})
