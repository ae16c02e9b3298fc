/**
 * The toy training run the reliability tests kill, starve of disk and compare: a swiss-roll MLP trained with
 * DSM on the CPU backend. Imported, it exports the run (`toyRun`) so a test can do the uninterrupted reference
 * in-process; run as a script it trains once and reports on stdout, one line per event:
 *
 *   bun test/support/fault-child.ts <out> <steps> <checkpointEvery>
 *   → "Started <step>", "Step <n>", "Checkpointed <n>", "Finished <n>" — or "FAILED <json>" and exit code 2
 *
 * The batch is host data (`hostBatch`) so that a test can plant a NaN at one step; it is a pure function of
 * the step, like everything else a resumed run must reproduce.
 */
import { Cause, Effect, Stream } from "effect"
import { writeSync } from "node:fs"
import { mlp } from "../../src/nn/mlp.ts"
import { initParams } from "../../src/nn/init.ts"
import { train, type TrainOptions } from "../../src/platform/train/loop.ts"
import type { TrainEvent } from "../../src/train/events.ts"
import type { TrainSpec } from "../../src/train/programs.ts"
import type { GpuHandle } from "../../src/runtime/gpu.ts"
import { vp } from "../../dsl/library/index.ts"
import { uniformTime } from "../../dsl/importance.ts"

/** Batch size and widths: big enough that a checkpoint (~75 KB) takes a while to write and fsync. */
export const toyBatch = 64
export const toyNetwork = mlp({ dataDim: 2, hidden: [64, 64] })

/** Parameter shapes of the toy network (what `latestCheckpoint` validates against). */
export const toyShapes = Object.fromEntries(Object.entries(toyNetwork.params).map(([name, d]) => [name, d.shape]))

/** A swiss-roll batch [toyBatch, 2] that depends only on `step` (a hashed angle and jitter per point). */
export const swissrollBatch = (step: number): Float32Array => {
  const out = new Float32Array(toyBatch * 2)
  let state = (step * 0x9e3779b1) >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  for (let i = 0; i < toyBatch; i++) {
    const angle = 1.5 * Math.PI * (1 + 2 * next())
    out[2 * i] = 0.2 * angle * Math.cos(angle) + 0.1 * (next() - 0.5)
    out[2 * i + 1] = 0.2 * angle * Math.sin(angle) + 0.1 * (next() - 0.5)
  }
  return out
}

const spec: TrainSpec = {
  sde: vp(),
  network: toyNetwork,
  parameterisation: "a",
  objective: { kind: "dsm", options: { t: uniformTime(1e-3) } },
  batch: toyBatch,
  sampleShape: [2],
  data: { kind: "host", transform: (raw) => ({ x: raw }) },
  warmup: 10,
  gradClip: 1,
  emaDecay: 0.99,
}

/** Options of one toy run; `batch` replaces the data (e.g. to inject a NaN). */
export interface ToyRun {
  readonly out: string
  readonly steps: number
  readonly checkpointEvery: number
  readonly backend?: GpuHandle | "cpu"
  readonly batch?: (step: number) => Float32Array
  readonly keep?: number
}

/** The toy run's `train` options (seed 1, lr 2e-3). */
export const toyOptions = (run: ToyRun): TrainOptions => ({
  spec,
  backend: run.backend ?? "cpu",
  steps: run.steps,
  lr: 2e-3,
  seed: 1,
  out: run.out,
  initialParams: initParams(toyNetwork, 1),
  hostBatch: run.batch ?? swissrollBatch,
  checkpointEvery: run.checkpointEvery,
  keep: run.keep ?? 3,
  config: { toy: "swissroll", steps: run.steps },
})

/** Runs the toy training to the end; resolves with every event, or rejects with the TrainFailed. */
export const toyRun = (run: ToyRun, onEvent: (event: TrainEvent) => void = () => {}): Promise<TrainEvent[]> => {
  const events: TrainEvent[] = []
  return Effect.runPromise(
    Stream.runForEach(train(toyOptions(run)), (event) =>
      Effect.sync(() => {
        events.push(event)
        onEvent(event)
      }),
    ).pipe(Effect.scoped, Effect.as(events)),
  )
}

/** One line to stdout, unbuffered: a parent times its kills by these lines, so they must arrive as they happen. */
const report = (line: string) => writeSync(1, `${line}\n`)

if (import.meta.main) {
  const [out, steps, every] = process.argv.slice(2)
  const exit = await Effect.runPromiseExit(
    Stream.runForEach(train(toyOptions({ out: out!, steps: Number(steps), checkpointEvery: Number(every) })), (e) => (e._tag === "Compiling" ? Effect.void : Effect.sync(() => report(`${e._tag} ${e.step}`)))).pipe(Effect.scoped),
  )
  if (exit._tag === "Failure") {
    // Typed failures and defects alike are reported, so a test can tell which one it got.
    const error = Cause.squash(exit.cause) as { _tag?: string; message?: string; cause?: { _tag?: string; code?: string; path?: string } }
    const cause = error?.cause
    report(`FAILED ${JSON.stringify({ tag: error?._tag ?? "defect", message: error?.message ?? String(error), cause: cause && { tag: cause._tag, code: cause.code, path: cause.path } })}`)
    process.exit(2)
  }
}
