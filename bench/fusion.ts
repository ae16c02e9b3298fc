#!/usr/bin/env bun
/**
 * The kernel-fusion benchmark: every workload compiled fused and with `fuse: false`, checked to agree,
 * timed, and set against PyTorch eager on the CPU when python3-torch is installed.
 *
 *   bun run bench/fusion.ts [--quick | --device] [--json out.json] [--no-peer] [--only em-4m,matmul-1024]
 *
 * `runBench(options)` is the same thing as a function, for the `sdeflow bench` command.
 */
import { parseArgs } from "node:util"
import { withGpu } from "../src/platform/bun.ts"
import type { GpuHandle } from "../src/runtime/gpu.ts"
import { tunedTiles } from "../src/runtime/autotune.ts"
import { writeFileAtomicSync } from "../src/platform/files/atomic.ts"
import { currentLoad, describeMachine } from "./machine.ts"
import { measureWorkload } from "./measure.ts"
import { runPeer, type PeerReport } from "./peer.ts"
import { validateResults, type BenchResults, type WorkloadResult } from "./results.ts"
import { formatReport } from "./table.ts"
import { verdictOf } from "../src/runtime/doctor.ts"
import { checkTargets } from "./targets.ts"
import { repetitionsFor, workloadsFor, type BenchMode } from "./workloads.ts"

export { formatReport } from "./table.ts"
export type { BenchResults } from "./results.ts"

export interface BenchOptions {
  /** "quick" (small sizes, < 5 min on 2 CPU cores), "full" (the documented sizes) or "device" (a real GPU). Default "full". */
  readonly mode?: BenchMode
  /** Where to write the results as JSON (validated against bench/results.schema.json first). */
  readonly json?: string
  /** Run the PyTorch peer (default true; it is skipped anyway when python3-torch is missing). */
  readonly peer?: boolean
  /** Only these workload ids (default: all of the mode). */
  readonly only?: readonly string[]
  /** Repetitions instead of the mode's (tests use tiny ones). */
  readonly repetitions?: { readonly warmup: number; readonly reps: number; readonly budgetMs: number }
  /** An open device; by default one is opened and closed around the run. */
  readonly gpu?: GpuHandle
  /** Progress lines (default: stderr). */
  readonly log?: (line: string) => void
}

/** The PyTorch time and the sdeflow/PyTorch ratio of a measured workload. */
const withPeer = (r: WorkloadResult, peer: PeerReport): WorkloadResult => {
  const torchMs = peer.status === "ran" ? (peer.ms.get(r.id) ?? null) : null
  const ratio = torchMs !== null && torchMs > 0 && r.fused ? r.fused.ms / torchMs : null
  return { ...r, torchMs, sdeflowOverTorch: ratio }
}

/** Runs the benchmark and returns results already validated against the schema (and written, with `json`). */
export const runBench = async (options: BenchOptions = {}): Promise<BenchResults> => {
  const mode = options.mode ?? "full"
  const log = options.log ?? ((line: string) => console.error(line))
  const reps = options.repetitions ?? repetitionsFor(mode)
  const all = workloadsFor(mode)
  const unknown = (options.only ?? []).filter((id) => !all.some((w) => w.id === id))
  if (unknown.length > 0) throw new Error(`unknown workload ${unknown.join(", ")} (this mode has: ${all.map((w) => w.id).join(", ")})`)
  const workloads = options.only ? all.filter((w) => options.only!.includes(w.id)) : all
  const started = new Date()
  const clock = performance.now()

  const body = async (gpu: GpuHandle): Promise<BenchResults> => {
    const machine = describeMachine(gpu, started, await tunedTiles(gpu))
    if (mode === "device" && verdictOf(gpu.adapter).includes("CPU")) log(`--device on ${machine.adapter}: sizes meant for a real GPU, expect a long run`)
    const measured: WorkloadResult[] = []
    for (const w of workloads) {
      log(`measuring ${w.id} (${w.size}) …`)
      const began = performance.now()
      const r = await measureWorkload(gpu, w, reps)
      log(`  ${r.status === "ok" ? "ok" : `${r.status}: ${r.error}`} (${((performance.now() - began) / 1e3).toFixed(1)} s)`)
      measured.push(r)
    }
    // After sdeflow, never alongside it: both want every core.
    if (options.peer !== false) log("running the PyTorch peer …")
    const peer: PeerReport = options.peer === false ? { status: "skipped", detail: "disabled with --no-peer" } : await runPeer(workloads, reps)
    if (peer.status === "ran") for (const [id, error] of peer.errors) log(`  PyTorch peer failed on ${id}: ${error}`)
    const results = measured.map((r) => withPeer(r, peer))
    return validateResults({
      version: 1,
      mode,
      timing: machine.timestamps ? "gpu-timestamps" : "wall-clock",
      machine: { ...machine, loadEnd: currentLoad() },
      peer: { status: peer.status, detail: peer.detail },
      workloads: results,
      targets: checkTargets(results),
      wallSeconds: (performance.now() - clock) / 1e3,
    })
  }

  const results = options.gpu ? await body(options.gpu) : await withGpu(body)
  if (options.json) writeFileAtomicSync(options.json, `${JSON.stringify(results, null, 2)}\n`)
  return results
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      device: { type: "boolean", default: false },
      json: { type: "string" },
      "no-peer": { type: "boolean", default: false },
      only: { type: "string" },
    },
  })
  if (values.quick && values.device) {
    console.error("--quick and --device are exclusive: --device scales sizes up for a real GPU, --quick scales them down")
    process.exit(2)
  }
  const results = await runBench({
    mode: values.quick ? "quick" : values.device ? "device" : "full",
    json: values.json,
    peer: !values["no-peer"],
    only: values.only?.split(",").map((s) => s.trim()),
  })
  console.log(formatReport(results))
  if (values.json) console.log(`results written to ${values.json}`)
}
