/**
 * A long run owns its device resources: sampling every few steps (a solve each time) hands its buffers
 * back, so the device pool and the pipeline cache stop growing after the first sample.
 */
import { afterAll, expect, test, setDefaultTimeout } from "bun:test"
import { Effect, Stream } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { mlp } from "../../src/nn/mlp.ts"
import { initParams } from "../../src/nn/init.ts"
import { toySample } from "../../src/data/toy.ts"
import { train } from "../../src/platform/train/loop.ts"
import type { TrainSpec } from "../../src/train/programs.ts"
import { vp } from "../../dsl/library/index.ts"
import { uniformTime } from "../../dsl/importance.ts"
import { eulerMaruyama } from "../../dsl/solvers.ts"
import { useGpu } from "../support/backends.ts"

setDefaultTimeout(600_000)

const device = useGpu()
const out = mkdtempSync(join(tmpdir(), "sdeflow-resources-"))
afterAll(() => rmSync(out, { recursive: true, force: true }))

test("2 000 steps sampling every 50: pool bytes, allocations and pipelines are flat after the first sample", async () => {
  const network = mlp({ dataDim: 2, hidden: [16] })
  const spec: TrainSpec = {
    sde: vp(),
    network,
    parameterisation: "a",
    objective: { kind: "dsm", options: { t: uniformTime(1e-3) } },
    batch: 32,
    sampleShape: [2],
    data: { kind: "device", sample: (n) => toySample("swissroll", n) },
    warmup: 10,
    gradClip: 1,
    emaDecay: 0.99,
  }
  const gpu = device()
  const seen: { poolBytes: number; allocations: number; pipelines: number }[] = []
  const run = train({
    spec,
    backend: gpu,
    steps: 2000,
    lr: 1e-3,
    seed: 0,
    out,
    initialParams: initParams(network, 0),
    sampleEvery: 50,
    sampler: { solver: eulerMaruyama(), lambda: 0, steps: 4, count: 16 },
    render: () => new Uint8Array(0),
    checkpointEvery: 1000,
    config: {},
  }).pipe(Stream.runForEach((event) => Effect.sync(() => event._tag === "Sampled" && seen.push({ poolBytes: gpu.pool.bytes, allocations: gpu.pool.allocations, pipelines: gpu.pipelines.size }))))
  await Effect.runPromise(run.pipe(Effect.scoped))
  expect(seen.length).toBe(40)
  // Before the fix every sample allocated the solver's buffers anew: the pool grew by them each time.
  for (const s of seen.slice(1)) expect(s).toEqual(seen[0]!)
})
