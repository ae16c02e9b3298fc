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
import { withGpu } from "../src/platform/bun.ts"
import { writeFileAtomicSync } from "../src/platform/files/atomic.ts"
import { driftModel, evalBitsPerDim, flatParamInputs, trainStep, type TrainSpec } from "../src/train/programs.ts"
import { pluginReverse } from "../dsl/reverse.ts"
import { eulerMaruyama, step } from "../dsl/solvers.ts"
import { networkFor, sdeFor } from "../src/train/model-for.ts"
import { presets } from "../src/train/config.ts"
import { dequantizeLogit } from "../src/data/image-transforms.ts"
import { uniformTime } from "../dsl/importance.ts"
import { emStep } from "./workloads.ts"
import type { InputSpec, Outputs } from "../src/compile/compile.ts"
import type { Tensor } from "../src/ir/tensor.ts"

interface Traced {
  readonly fn: (inputs: Record<string, Tensor>) => Outputs
  readonly specs: Readonly<Record<string, InputSpec>>
}

/** One or more programs compiled in turn on one device (as one run of an example compiles them). */
interface CompileWorkload {
  readonly id: string
  readonly title: string
  readonly programs: readonly Traced[]
}

/** The `cpu` preset's training spec (UNet ch 32, batch 4, DSM, clip, Adam, EMA), as `examples/vp-cifar.ts` builds it. */
const cpuSpec = (): TrainSpec => {
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
  return spec
}

/** Everything one run of vp-cifar compiles: the training step, test bits/dim (ELBO), and the EM sampler's step. */
const vpCifar = (): Traced[] => {
  const config = presets.cpu
  const spec = cpuSpec()
  const rev = pluginReverse(spec.sde, driftModel(spec.network, flatParamInputs(spec.network, "ema"), spec.parameterisation), { lambda: 0 })
  return [
    { fn: trainStep(spec), specs: {} },
    { fn: evalBitsPerDim(spec, { t: uniformTime(config.eps) }), specs: {} },
    { fn: ({ x, t, dt }) => step(rev, eulerMaruyama(), x!, t!, dt!).x, specs: { x: [config.sampleCount, 3, 32, 32], t: [], dt: [] } },
  ]
}

const workloads: Record<string, () => CompileWorkload> = {
  "unet-train": () => ({ id: "unet-train", title: "vp-cifar training step (UNet ch 32, batch 4)", programs: [{ fn: trainStep(cpuSpec()), specs: {} }] }),
  "vp-cifar": () => ({ id: "vp-cifar", title: "vp-cifar: training step, bits/dim, sampler step", programs: vpCifar() }),
  "em-step": () => ({ id: "em-step", title: "VP Euler–Maruyama step (README tour)", programs: [{ fn: emStep, specs: { x: [4096, 2], t: [], dt: [] } }] }),
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
    let kernels = 0
    for (const p of w.programs) {
      const exe = await compile(p.fn, p.specs, { backend: gpu })
      kernels += exe.program.kernels.length
      exe.destroy()
    }
    const seconds = (performance.now() - start) / 1000
    // Pipelines this device built for all the programs (forms shared between programs count once).
    console.log(JSON.stringify({ kernels, pipelines: gpu.pipelines.size, seconds } satisfies CompileMeasurement))
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
