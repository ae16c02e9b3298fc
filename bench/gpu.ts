#!/usr/bin/env bun
/**
 * The device table: on a real GPU, the Euler–Maruyama step's memory bandwidth as a fraction of the
 * device's peak, matmul TFLOP/s, and the UNet training step's time — one table from one command
 * (`bench/gpu/run.sh` on a lent machine). Every program is validated before it is timed. `--quick`
 * runs small sizes, so the same code can be tried on a CPU adapter (lavapipe).
 *
 *   bun run bench/gpu.ts [--quick] [--peak-gbs 4800] [--peak-tflops 67] [--budget-s 180] [--only em-64m,unet-train] [--json out.json]
 *   bun run bench/gpu.ts --from out.json      (the table of a saved run, also of one stopped part-way)
 */
import { parseArgs } from "node:util"
import { readFileSync } from "node:fs"
import { writeFileAtomicSync } from "../src/platform/files/atomic.ts"
import { compile, type InputSpec, type Outputs } from "../src/compile/compile.ts"
import { explain } from "../src/compile/explain.ts"
import { matmul, type Tensor } from "../src/ir/tensor.ts"
import { withGpu } from "../src/platform/bun.ts"
import { tunedTiles } from "../src/runtime/autotune.ts"
import type { AdapterSummary, GpuHandle } from "../src/runtime/gpu.ts"
import type { Executable, InputValue } from "../src/runtime/executable.ts"
import { median, relativeError, worstDisagreement, type OutputPair } from "./agreement.ts"
import { currentLoad, describeMachine } from "./machine.ts"
import { agreementTolerance, residentInputs, runOptions, validatedRun } from "./measure.ts"
import type { Machine } from "./results.ts"
import { significant } from "./table.ts"
import { emStep, hostValues, workloadsFor } from "./workloads.ts"

/** What a row's throughput is judged against: memory bandwidth, FP32 arithmetic, or nothing (a whole step). */
type Metric = "bandwidth" | "flops" | "step"

/** One program of the table, with how its outputs are judged before it is timed. */
interface Probe {
  readonly id: string
  readonly size: string
  readonly metric: Metric
  readonly fn: (inputs: Record<string, Tensor>) => Outputs
  readonly specs: Readonly<Record<string, InputSpec>>
  readonly inputs: () => Record<string, InputValue>
  /**
   * "unfused": against `compile(…, { fuse: false })` on the same seed (Philox noise is the same in both);
   * "host-dot": sampled entries of an n×n product against float64 dot products (a matmul is one kernel either way).
   */
  readonly reference: { readonly kind: "unfused" } | { readonly kind: "host-dot"; readonly n: number }
  /** The largest single buffer, to skip sizes the device's binding limit refuses. */
  readonly bufferBytes: number
}

/** Bytes and FLOP/s of the datasheets, for adapters whose name says which chip they are. */
const datasheets: readonly { readonly chip: string; readonly match: RegExp; readonly gbs: number; readonly tflops: number }[] = [
  { chip: "H200", match: /H200/i, gbs: 4800, tflops: 67 },
  { chip: "H100 PCIe", match: /H100.*PCIe/i, gbs: 2000, tflops: 51 },
  { chip: "H100 SXM", match: /H100/i, gbs: 3350, tflops: 67 },
  { chip: "A100 80GB", match: /A100.*80\s?GB/i, gbs: 2039, tflops: 19.5 },
  { chip: "A100 40GB", match: /A100/i, gbs: 1555, tflops: 19.5 },
  { chip: "L40S", match: /L40S/i, gbs: 864, tflops: 91.6 },
  { chip: "L4", match: /\bL4\b/i, gbs: 300, tflops: 30.3 },
  { chip: "RTX 4090", match: /RTX 4090/i, gbs: 1008, tflops: 82.6 },
]

export interface Peak {
  readonly gbs: number | null
  readonly tflops: number | null
  readonly source: string
}

/** The peak to divide by: the flags, else the datasheet of the adapter's chip, else unknown. */
export const peakFor = (adapter: AdapterSummary, flags: { gbs?: number; tflops?: number }): Peak => {
  const sheet = datasheets.find((d) => d.match.test(`${adapter.device} ${adapter.description}`))
  const gbs = flags.gbs ?? sheet?.gbs ?? null
  const tflops = flags.tflops ?? sheet?.tflops ?? null
  const from = (flag: number | undefined, name: string) => (flag !== undefined ? `${name} flag` : sheet ? `${sheet.chip} datasheet` : "unknown")
  const [bandwidthFrom, flopsFrom] = [from(flags.gbs, "--peak-gbs"), from(flags.tflops, "--peak-tflops")]
  return { gbs, tflops, source: bandwidthFrom === flopsFrom ? bandwidthFrom : `bandwidth: ${bandwidthFrom}; FP32: ${flopsFrom}` }
}

const emProbe = (states: number, label: string): Probe => ({
  id: `em-${label}`,
  size: `x [${states}] f32`,
  metric: "bandwidth",
  fn: emStep,
  specs: { x: [states], t: [], dt: [] },
  inputs: () => ({ x: hostValues(states, 1), t: 0.5, dt: 0.001 }),
  reference: { kind: "unfused" },
  bufferBytes: 4 * states,
})

const matmulProbe = (n: number): Probe => ({
  id: `matmul-${n}`,
  size: `${n}³ f32`,
  metric: "flops",
  fn: ({ a, b }) => matmul(a!, b!),
  specs: { a: [n, n], b: [n, n] },
  inputs: () => ({ a: hostValues(n * n, 11), b: hostValues(n * n, 12) }),
  reference: { kind: "host-dot", n },
  bufferBytes: 4 * n * n,
})

/** The fusion benchmark's UNet training step (batch 32, or 4 with --quick). */
const unetProbe = (quick: boolean): Probe => {
  const w = workloadsFor(quick ? "quick" : "device").find((w) => w.id === "unet-train")!
  return { id: w.id, size: w.size, metric: "step", fn: w.fn, specs: w.specs, inputs: w.inputs, reference: { kind: "unfused" }, bufferBytes: 0 }
}

/** The largest buffer one kernel may bind, in bytes. */
const bindingLimit = (gpu: GpuHandle): number => Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize)

/**
 * The table's programs: the EM step in L2 and far beyond it, two matmuls, the UNet step. The large EM
 * sizes that the device cannot bind give way to the largest power of two it can, so the table always
 * has a size that streams from DRAM.
 */
const probesFor = (quick: boolean, limitBytes: number): Probe[] => {
  if (quick) return [emProbe(1 << 20, "1m"), emProbe(4 << 20, "4m"), matmulProbe(256), matmulProbe(512), unetProbe(true)]
  const big = [64 << 20, 256 << 20].filter((states) => 4 * states <= limitBytes)
  const largest = 2 ** Math.floor(Math.log2(limitBytes / 4))
  const streaming = (big.length > 0 ? big : [largest]).map((states) => emProbe(states, `${states / 2 ** 20}m`))
  return [emProbe(4 << 20, "4m"), ...streaming, matmulProbe(2048), matmulProbe(4096), unetProbe(false)]
}

export interface Row {
  readonly id: string
  readonly size: string
  readonly metric: Metric
  readonly status: "ok" | "mismatch" | "error" | "skipped"
  readonly detail: string | null
  /** Worst relative disagreement with the reference (see Probe.reference). */
  readonly error: number | null
  readonly dispatches: number | null
  readonly bytes: number | null
  readonly flops: number | null
  readonly compileMs: number | null
  /** Mean over `kernelRuns` profiled runs of the summed kernel GPU times; null without timestamp-query. */
  readonly kernelMs: number | null
  readonly kernelMedianMs: number | null
  readonly kernelRuns: number
  /** Wall time per run with many runs in flight (no host round trip between them): a training loop's step. */
  readonly wallMs: number | null
  /** Bytes/s (bandwidth rows) or FLOP/s, from kernelMs when there is one, else from wallMs. */
  readonly perSecond: number | null
  /** perSecond over the peak bandwidth or FP32 rate; null when the peak is unknown or the row is a step. */
  readonly ofPeak: number | null
}

/**
 * Dawn quantizes timestamps to multiples of 2^16 ns, its timing-attack mitigation (every reading on
 * lavapipe is such a multiple): a kernel shorter than 65.5 µs reads 0 or 65.5 µs.
 */
const timestampQuantumMs = 0.065536
const isQuantized = (ms: readonly number[]): boolean =>
  ms.length > 0 && ms.every((t) => Math.abs(t / timestampQuantumMs - Math.round(t / timestampQuantumMs)) < 1e-6)

/** Sampled entries of c = a·b against float64 dot products; the worst error relative to the largest of them. */
const hostDotError = (a: Float32Array, b: Float32Array, c: ArrayLike<number>, n: number, samples = 64): number => {
  const got: number[] = []
  const want: number[] = []
  for (let s = 0; s < samples; s++) {
    const i = (s * 2654435761) % n
    const j = (s * 40503 + 17) % n
    let dot = 0
    for (let k = 0; k < n; k++) dot += a[i * n + k]! * b[k * n + j]!
    got.push(c[i * n + j]!)
    want.push(dot)
  }
  return relativeError(got, want)
}

/** The worst disagreement of `outputs` with the probe's reference, compiling the unfused program when that is it. */
const referenceError = async (gpu: GpuHandle, p: Probe, inputs: Record<string, InputValue>, outputs: Map<string, ArrayLike<number>>): Promise<number> => {
  if (p.reference.kind === "host-dot") return hostDotError(inputs.a as Float32Array, inputs.b as Float32Array, outputs.values().next().value!, p.reference.n)
  const unfused = await compile(p.fn, p.specs, { backend: gpu, fuse: false })
  try {
    const reference = await validatedRun(unfused, inputs)
    const pairs: OutputPair[] = [...outputs].map(([name, fused]) => ({ name, fused, unfused: reference.get(name)! }))
    return worstDisagreement(pairs).error
  } finally {
    unfused.destroy()
  }
}

interface Timing {
  readonly kernelSums: readonly number[]
  readonly quantized: boolean
  readonly wallMs: number
}

/**
 * Kernel times from `profile` (each kernel its own timed pass), then wall time per run of batches of
 * runs submitted back to back and waited for once — so neither a read-back nor the host's wake-up
 * latency lands on every run. Stops early when `budgetMs` is spent.
 */
const timeRuns = async (gpu: GpuHandle, exe: Executable, inputs: Record<string, InputValue>, budgetMs: number, maxProfiles: number): Promise<Timing> => {
  const idle = () => gpu.device.queue.onSubmittedWorkDone()
  const began = performance.now()
  const elapsed = () => performance.now() - began
  // Warm-up: up to 3 runs, fewer for a program whose run takes a good part of the budget.
  let warmups = 0
  while (warmups < 3 && (warmups === 0 || elapsed() < budgetMs / 8)) {
    exe.run(inputs, runOptions)
    await idle()
    warmups++
  }
  const estimateMs = Math.max(0.005, elapsed() / warmups)
  const kernelSums: number[] = []
  const raw: number[] = []
  if (gpu.features.has("timestamp-query")) {
    while (kernelSums.length < maxProfiles && (kernelSums.length < 3 || elapsed() < budgetMs / 2)) {
      const kernels = (await exe.profile(inputs, runOptions)).map((k) => k.ms)
      raw.push(...kernels)
      kernelSums.push(kernels.reduce((s, k) => s + k, 0))
    }
  }
  const batch = Math.max(2, Math.min(200, Math.floor(Math.min(500, budgetMs / 8) / estimateMs)))
  const perRun: number[] = []
  while (perRun.length < 3 && (perRun.length === 0 || elapsed() < budgetMs)) {
    const start = performance.now()
    for (let k = 0; k < batch; k++) exe.run(inputs, runOptions)
    await idle()
    perRun.push((performance.now() - start) / batch)
  }
  await exe.check()
  return { kernelSums, quantized: isQuantized(raw), wallMs: median(perRun) }
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split("\n")[0]!

const unmeasured = { error: null, dispatches: null, bytes: null, flops: null, compileMs: null, kernelMs: null, kernelMedianMs: null, kernelRuns: 0, wallMs: null, perSecond: null, ofPeak: null } as const
const emptyRow = (p: Probe, status: Row["status"], detail: string): Row => ({ id: p.id, size: p.size, metric: p.metric, status, detail, ...unmeasured })

/** Validates then times one probe; never throws (a failure is a row with status "error"). */
const measureProbe = async (gpu: GpuHandle, p: Probe, peak: Peak, budgetMs: number, maxProfiles: number): Promise<Row & { quantized: boolean }> => {
  const limit = bindingLimit(gpu)
  if (p.bufferBytes > limit) return { ...emptyRow(p, "skipped", `a ${p.bufferBytes / 2 ** 20} MiB buffer exceeds this device's binding limit (${limit / 2 ** 20} MiB)`), quantized: false }
  let exe: Executable | undefined
  try {
    const start = performance.now()
    exe = await compile(p.fn, p.specs, { backend: gpu })
    const compileMs = performance.now() - start
    const hostInputs = p.inputs()
    const outputs = await validatedRun(exe, hostInputs)
    for (const [name, values] of outputs) {
      for (let i = 0; i < values.length; i++)
        if (!Number.isFinite(values[i]!)) return { ...emptyRow(p, "error", `output "${name}" has a non-finite value at ${i} (a NaN left by poison: an element no kernel wrote)`), quantized: false }
    }
    const error = await referenceError(gpu, p, hostInputs, outputs)
    outputs.clear()
    const timing = await timeRuns(gpu, exe, residentInputs(exe, hostInputs), budgetMs, maxProfiles)
    const e = explain(exe)
    const kernelMs = timing.kernelSums.length > 0 ? timing.kernelSums.reduce((s, t) => s + t, 0) / timing.kernelSums.length : null
    const amount = p.metric === "bandwidth" ? e.bytesRead + e.bytesWritten : e.flops
    const seconds = (kernelMs ?? timing.wallMs) / 1e3
    const perSecond = seconds > 0 ? amount / seconds : null
    const peakPerSecond = p.metric === "bandwidth" && peak.gbs ? peak.gbs * 1e9 : p.metric === "flops" && peak.tflops ? peak.tflops * 1e12 : null
    const agrees = error <= agreementTolerance
    return {
      id: p.id,
      size: p.size,
      metric: p.metric,
      status: agrees ? "ok" : "mismatch",
      detail: agrees ? null : `differs from its reference (${p.reference.kind}) by ${error.toExponential(2)}, > ${agreementTolerance}`,
      error: Number.isFinite(error) ? error : null,
      dispatches: e.dispatches,
      bytes: e.bytesRead + e.bytesWritten,
      flops: e.flops,
      compileMs,
      kernelMs,
      kernelMedianMs: timing.kernelSums.length > 0 ? median(timing.kernelSums) : null,
      kernelRuns: timing.kernelSums.length,
      wallMs: timing.wallMs,
      perSecond,
      ofPeak: perSecond !== null && peakPerSecond !== null ? perSecond / peakPerSecond : null,
      quantized: timing.quantized,
    }
  } catch (e) {
    return { ...emptyRow(p, "error", message(e)), quantized: false }
  } finally {
    exe?.destroy()
  }
}

export interface DeviceTable {
  readonly version: 1
  readonly mode: "device" | "quick"
  readonly machine: Machine
  readonly peak: Peak
  /** Whether Dawn rounded the kernel timestamps to 65.536 µs (then kernel times are means of many runs). */
  readonly quantizedTimestamps: boolean
  readonly rows: readonly Row[]
  readonly wallSeconds: number
}

const withUnit = (perSecond: number, unit: string): string =>
  perSecond >= 1e12 ? `${significant(perSecond / 1e12)} T${unit}/s` : `${significant(perSecond / 1e9)} G${unit}/s`

const cells = (r: Row): string[] =>
  r.status === "skipped" || r.status === "error"
    ? [r.id, r.size, `${r.status.toUpperCase()}: ${r.detail ?? ""}`]
    : [
        r.id,
        r.size,
        String(r.dispatches),
        r.kernelMs === null ? "—" : significant(r.kernelMs),
        r.wallMs === null ? "—" : significant(r.wallMs),
        r.perSecond === null ? "—" : withUnit(r.perSecond, r.metric === "bandwidth" ? "B" : "FLOP"),
        r.ofPeak === null ? "—" : `${(100 * r.ofPeak).toFixed(1)}%`,
        `${r.status === "ok" ? "ok" : "MISMATCH"} (${r.error === null ? "non-finite" : r.error === 0 ? "exact" : r.error.toExponential(1)})`,
      ]

const header = ["workload", "size", "dispatches", "kernel ms", "wall ms/run", "throughput", "of peak", "check"]

/** The table as Markdown (also readable as text), with what the columns mean. */
export const formatDeviceTable = (t: DeviceTable): string => {
  const rows = t.rows.map(cells)
  const full = rows.filter((r) => r.length === header.length)
  const widths = header.map((h, i) => Math.max(h.length, ...full.map((r) => r[i]!.length)))
  const line = (c: readonly string[]) => (c.length === header.length ? `| ${c.map((x, i) => (i < 2 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join(" | ")} |` : `| ${c.join(" | ")} |`)
  const m = t.machine
  const peak = t.peak.gbs === null && t.peak.tflops === null ? "unknown peak (pass --peak-gbs / --peak-tflops)" : `peak ${t.peak.gbs ?? "?"} GB/s, ${t.peak.tflops ?? "?"} TFLOP/s FP32 — ${t.peak.source}`
  return [
    `${m.adapter} — ${peak}`,
    `${m.cpu} × ${m.cores}, ${m.bun === "not Bun" ? m.bun : `Bun ${m.bun}`}, ${m.dawn}; load ${m.loadStart} → ${m.loadEnd}; ${m.date}; ${t.wallSeconds.toFixed(0)} s`,
    "",
    line(header),
    `|${widths.map((w, i) => (i < 2 ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`,
    ...rows.map(line),
    "",
    m.timestamps
      ? `kernel ms: summed GPU time of the run's kernels, mean of the profiled runs${t.quantizedTimestamps ? " (Dawn rounds timestamps to 65.5 µs, so a single short kernel reads 0 or 0.066; the mean over runs is what is left)" : ""}.`
      : "kernel ms: — (no timestamp-query); throughput is from wall time.",
    "wall ms/run: runs submitted back to back, waited for once — a training loop's step, launch overhead included.",
    "throughput: bytes read + written (em-*) or FLOPs (explain counts) per kernel second; of peak: against the peak bandwidth (em-*) or FP32 rate (matmul).",
    "An em-* size whose bytes fit in the L2 cache (an H100/H200's is 50–60 MB: em-4m moves 32 MiB) can pass DRAM peak; the larger sizes measure DRAM.",
  ].join("\n")
}

export interface DeviceTableOptions {
  readonly quick?: boolean
  readonly peakGbs?: number
  readonly peakTflops?: number
  /** Seconds after which remaining rows are skipped (a row already started finishes). */
  readonly budgetSeconds?: number
  readonly only?: readonly string[]
  /** Written after every row, so a run stopped from outside still leaves what it measured. */
  readonly json?: string
  readonly log?: (line: string) => void
}

/** Opens the device, measures every probe within the time budget and returns the table. */
export const runDeviceTable = async (options: DeviceTableOptions = {}): Promise<DeviceTable> => {
  const quick = options.quick ?? false
  const log = options.log ?? ((line: string) => console.error(line))
  const budgetMs = 1e3 * (options.budgetSeconds ?? (quick ? 600 : 180))
  const started = new Date()
  const clock = performance.now()
  return withGpu(async (gpu) => {
    const all = probesFor(quick, bindingLimit(gpu))
    const unknown = (options.only ?? []).filter((id) => !all.some((p) => p.id === id))
    if (unknown.length > 0) throw new Error(`unknown row ${unknown.join(", ")} (on this device: ${all.map((p) => p.id).join(", ")})`)
    const probes = options.only ? all.filter((p) => options.only!.includes(p.id)) : all
    const machine = describeMachine(gpu, started, await tunedTiles(gpu))
    const peak = peakFor(gpu.adapter, { gbs: options.peakGbs, tflops: options.peakTflops })
    log(`${machine.adapter}: ${peak.gbs === null ? "unknown peak bandwidth" : `peak ${peak.gbs} GB/s`} (${peak.source}); budget ${budgetMs / 1e3} s`)
    const rows: Row[] = []
    let quantized = false
    const table = (): DeviceTable => ({
      version: 1,
      mode: quick ? "quick" : "device",
      machine: { ...machine, loadEnd: currentLoad() },
      peak,
      quantizedTimestamps: quantized,
      rows,
      wallSeconds: (performance.now() - clock) / 1e3,
    })
    for (const [i, p] of probes.entries()) {
      const left = budgetMs - (performance.now() - clock)
      if (left <= 0) {
        rows.push(emptyRow(p, "skipped", "time budget spent"))
        continue
      }
      log(`measuring ${p.id} (${p.size}) …`)
      const began = performance.now()
      // Timing gets an equal share of what is left, at most 8 s (3 s with --quick): validation comes first.
      // Up to 500 profiled runs on a GPU: a 15 µs kernel reads 0 or 65.5 µs, and only the mean of many is near 15.
      const { quantized: q, ...row } = await measureProbe(gpu, p, peak, Math.min(quick ? 3_000 : 8_000, left / (probes.length - i)), quick ? 10 : 500)
      quantized ||= q
      rows.push(row)
      log(`  ${row.status}${row.detail ? `: ${row.detail}` : ""} (${((performance.now() - began) / 1e3).toFixed(1)} s)`)
      if (options.json) writeJson(options.json, table())
    }
    const result = table()
    if (options.json) writeJson(options.json, result)
    return result
  })
}

const writeJson = (path: string, t: DeviceTable): void => writeFileAtomicSync(path, `${JSON.stringify(t, null, 2)}\n`)

const positive = (flag: string, text: string | undefined): number | undefined => {
  if (text === undefined) return undefined
  const x = Number(text)
  if (!(x > 0)) throw new Error(`${flag} wants a positive number, got "${text}"`)
  return x
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      "peak-gbs": { type: "string" },
      "peak-tflops": { type: "string" },
      "budget-s": { type: "string" },
      only: { type: "string" },
      json: { type: "string" },
      from: { type: "string" },
    },
  })
  try {
    const table = values.from
      ? (JSON.parse(readFileSync(values.from, "utf8")) as DeviceTable)
      : await runDeviceTable({
          quick: values.quick,
          peakGbs: positive("--peak-gbs", values["peak-gbs"]),
          peakTflops: positive("--peak-tflops", values["peak-tflops"]),
          budgetSeconds: positive("--budget-s", values["budget-s"]),
          only: values.only?.split(",").map((s) => s.trim()),
          json: values.json,
        })
    console.log(formatDeviceTable(table))
    if (table.rows.some((r) => r.status === "error" || r.status === "mismatch")) process.exitCode = 1
  } catch (e) {
    console.error(`bench/gpu.ts: ${e instanceof Error ? e.message : String(e)}`)
    process.exitCode = 2
  }
}
