import { afterAll, beforeAll, expect, test, setDefaultTimeout } from "bun:test"
import { Effect, Stream } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { compile } from "../../src/index.ts"
import { bunGpu } from "../../src/platform/bun.ts"
import { closeGpu, openGpu, type GpuHandle } from "../../src/runtime/gpu.ts"
import { mlp } from "../../src/nn/mlp.ts"
import { initParams } from "../../src/nn/init.ts"
import { toySample } from "../../src/data/toy.ts"
import { energyDistance } from "../../src/data/energy-distance.ts"
import { train } from "../../src/platform/train/loop.ts"
import { latestCheckpoint } from "../../src/platform/train/checkpoint.ts"
import { driftModel, paramInputs, type TrainSpec } from "../../src/train/programs.ts"
import { vp } from "../../dsl/library/index.ts"
import { importanceTime } from "../../dsl/importance.ts"
import { pluginReverse } from "../../dsl/reverse.ts"
import { solve } from "../../dsl/solve.ts"
import { eulerMaruyama } from "../../dsl/solvers.ts"

setDefaultTimeout(300_000)
const slow = process.env.SDEFLOW_SLOW_TESTS === "1" ? test : test.skip

let gpu: GpuHandle
const out = mkdtempSync(join(tmpdir(), "sdeflow-swissroll-"))
beforeAll(async () => {
  gpu = await openGpu(bunGpu())
})
afterAll(() => {
  closeGpu(gpu)
  rmSync(out, { recursive: true, force: true })
})

slow("the paper's 2-D experiment: after training, samples match the swiss roll (energy distance) where the untrained model's do not", async () => {
  const sde = vp()
  const network = mlp({ dataDim: 2, hidden: [64, 64] })
  const spec: TrainSpec = {
    sde,
    network,
    parameterisation: "a",
    objective: { kind: "dsm", options: { t: importanceTime(1e-3) } },
    batch: 256,
    sampleShape: [2],
    data: { kind: "device", sample: (n) => toySample("swissroll", n) },
    warmup: 50,
    gradClip: 1,
    emaDecay: 0.99,
  }
  const initial = initParams(network, 0)
  await Effect.runPromise(Stream.runDrain(train({ spec, backend: gpu, steps: 600, lr: 3e-3, seed: 0, out, initialParams: initial, checkpointEvery: 600, config: {} })).pipe(Effect.scoped))
  const shapes = Object.fromEntries(Object.entries(network.params).map(([n, d]) => [n, d.shape]))
  const latest = await Effect.runPromise(latestCheckpoint(join(out, "checkpoints"), shapes))
  const trained = Object.fromEntries(Object.entries(latest.found!.checkpoint.ema).map(([n, t]) => [n, t.data]))

  const dataProgram = await compile(() => toySample("swissroll", 600), {}, { backend: gpu })
  dataProgram.run({}, { seed: 99 })
  const data = await dataProgram.read("out")
  const rev = pluginReverse(sde, driftModel(network, paramInputs(network), "a"))
  const samplesWith = async (weights: Record<string, Float32Array>) =>
    (await solve(rev, eulerMaruyama(), { backend: gpu, shape: [600, 2], steps: 200, seed: 5, inputs: weights })).x
  const [before, after] = [energyDistance(data, await samplesWith(initial), 2), energyDistance(data, await samplesWith(trained), 2)]
  console.log(`energy distance to the data: untrained ${before.toFixed(4)}, trained ${after.toFixed(4)}`)
  expect(after).toBeLessThan(0.05)
  expect(before).toBeGreaterThan(0.2)
})
