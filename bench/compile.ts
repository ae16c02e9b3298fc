#!/usr/bin/env bun
/**
 * The compile benchmark: what a first run waits for. For each program it counts kernels (dispatches)
 * and distinct pipelines, and times `compile` — tracing, scheduling, rendering, and every pipeline
 * compiled by the driver — once with an empty Mesa shader cache (cold, as on a fresh machine) and once
 * with the cache that run left (warm). Each measurement is its own process, so nothing is shared but
 * the disk cache.
 *
 *   bun run bench/compile.ts [--only unet-train,em-step] [--json out.json]
 */
import { parseArgs } from "node:util"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { compile } from "../src/compile/compile.ts"
import { renderProgramWgsl } from "../src/compile/wgsl.ts"
import { withGpu } from "../src/platform/bun.ts"
import { wgslOptionsFor } from "../src/runtime/webgpu-executable.ts"
import { writeFileAtomicSync } from "../src/io/atomic.ts"
import { trainStep, type TrainSpec } from "../src/train/programs.ts"
import { networkFor, sdeFor } from "../src/train/run.ts"
import { presets } from "../src/train/config.ts"
import { dequantizeLogit } from "../src/data/image-transforms.ts"
import { uniformTime } from "../dsl/importance.ts"
import { emStep } from "./workloads.ts"
import type { InputSpec, Outputs } from "../src/compile/compile.ts"
import type { Tensor } from "../src/ir/tensor.ts"

interface CompileWorkload {
  readonly id: string
  readonly title: string
  readonly fn: (inputs: Record<string, Tensor>) => Outputs
  readonly specs: Readonly<Record<string, InputSpec>>
}

/** The training step `examples/vp-cifar.ts` compiles (the `cpu` preset: UNet ch 32, batch 4, DSM, clip, Adam, EMA). */
const unetTrain = (): CompileWorkload => {
  const config = presets.cpu
  const spec: TrainSpec = {
    sde: sdeFor(config),
    network: networkFor(config),
    parameterisation: "a",
    objective: { kind: "dsm", options: { t: uniformTime(config.eps) } },
    batch: config.batch,
    sampleShape: [3, 32, 32],
    data: { kind: "host", transform: (raw) => dequantizeLogit(raw) },
    warmup: config.warmup,
    gradClip: config.gradClip,
    emaDecay: config.emaDecay,
  }
  return { id: "unet-train", title: "vp-cifar training step (UNet ch 32, batch 4)", fn: trainStep(spec), specs: {} }
}

const workloads: Record<string, () => CompileWorkload> = {
  "unet-train": unetTrain,
  "em-step": () => ({ id: "em-step", title: "VP Euler–Maruyama step (README tour)", fn: emStep, specs: { x: [4096, 2], t: [], dt: [] } }),
}

export interface CompileMeasurement {
  readonly kernels: number
  readonly pipelines: number
  readonly seconds: number
}

/** In a child: compiles one workload on a fresh device and prints its measurement as JSON. */
const measureHere = async (id: string): Promise<void> => {
  const w = workloads[id]!()
  await withGpu(async (gpu) => {
    const start = performance.now()
    const exe = await compile(w.fn, w.specs, { backend: gpu })
    const seconds = (performance.now() - start) / 1000
    const pipelines = new Set(renderProgramWgsl(exe.program, wgslOptionsFor(gpu)).map((k) => k.wgsl)).size
    exe.destroy()
    console.log(JSON.stringify({ kernels: exe.program.kernels.length, pipelines, seconds } satisfies CompileMeasurement))
  })
}

const measureIn = (id: string, cacheDir: string): CompileMeasurement => {
  const r = Bun.spawnSync([process.execPath, import.meta.path, "--child", id], { env: { ...process.env, MESA_SHADER_CACHE_DIR: cacheDir }, stderr: "inherit" })
  const last = r.stdout.toString().trim().split("\n").at(-1) ?? ""
  if (r.exitCode !== 0) throw new Error(`measuring ${id} failed (exit ${r.exitCode})`)
  return JSON.parse(last) as CompileMeasurement
}

const { values } = parseArgs({ options: { only: { type: "string" }, json: { type: "string" }, child: { type: "string" } } })
if (values.child) await measureHere(values.child)
else {
  const ids = values.only ? values.only.split(",") : Object.keys(workloads)
  const results = []
  for (const id of ids) {
    if (!workloads[id]) throw new Error(`unknown workload ${id}; known: ${Object.keys(workloads).join(", ")}`)
    const cache = mkdtempSync(join(tmpdir(), "sdeflow-mesa-cache-"))
    try {
      const cold = measureIn(id, cache)
      const warm = measureIn(id, cache)
      const row = { id, title: workloads[id]!().title, kernels: cold.kernels, pipelines: cold.pipelines, coldSeconds: cold.seconds, warmSeconds: warm.seconds }
      console.log(`${id.padEnd(12)} ${String(row.kernels).padStart(5)} kernels ${String(row.pipelines).padStart(4)} pipelines   cold ${row.coldSeconds.toFixed(1).padStart(6)} s   warm ${row.warmSeconds.toFixed(1).padStart(6)} s   ${row.title}`)
      results.push(row)
    } finally {
      rmSync(cache, { recursive: true, force: true })
    }
  }
  if (values.json) writeFileAtomicSync(values.json, JSON.stringify({ date: new Date().toISOString(), results }, null, 2))
}
