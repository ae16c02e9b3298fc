/**
 * The training loop as a Stream of events. Each step replays one compiled program (state stays on the
 * device); a non-finite loss rejects the step and keeps the previous state; evaluation, sampling and
 * checkpoints happen every N steps; interruption (Ctrl-C, SIGTERM, stream cancellation) writes a final
 * checkpoint; a run restarted with the same output folder resumes from the newest valid checkpoint and
 * continues the same trajectory (data order and noise are functions of (seed, step)). A lost WebGPU device
 * fails the run with `TrainFailed` whose `cause` is the `DeviceLost` (see `resilience.ts` for the retry).
 */
import { Data, Effect, Queue, Stream } from "effect"
import { appendFileSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import { compile, type Tensor } from "../../index.ts"
import type { DeviceValue, Executable, InputValue } from "../../runtime/executable.ts"
import type { GpuHandle } from "../../runtime/gpu.ts"
import type { CompileProgress } from "../../runtime/pipelines.ts"
import type { DeviceLost } from "../../runtime/errors.ts"
import { readback } from "../../runtime/buffers.ts"
import { parameterCount } from "../../nn/module.ts"
import { packHost, paramLayout, unpackHost } from "../../nn/param-layout.ts"
import { WriteFailed, writeFileAtomic } from "../files/atomic.ts"
import { curvesSvg } from "../../io/svg-plot.ts"
import { latestCheckpoint, saveCheckpointTo, type Checkpoint } from "./checkpoint.ts"
import { meanAndStderr, type TrainEvent } from "../../train/events.ts"
import { driftModel, evalBitsPerDim, flatParamInputs, stateNames, trainStep, type StateName, type TrainSpec } from "../../train/programs.ts"
import { DEFAULT_END_TIME, pluginReverse } from "../../../dsl/reverse.ts"
import { solve } from "../../../dsl/solve.ts"
import type { Solver } from "../../../dsl/solvers.ts"
import type { ElboOptions } from "../../../dsl/objectives.ts"
import { invalid, type InvalidOption } from "../../../dsl/errors.ts"

/** A training run failed; `cause` carries the underlying typed error. */
export class TrainFailed extends Data.TaggedError("TrainFailed")<{ readonly message: string; readonly cause?: unknown }> {}

export interface TrainOptions {
  readonly spec: TrainSpec
  readonly backend: GpuHandle | "cpu"
  readonly steps: number
  readonly lr: number
  readonly seed: number
  /** Output folder: checkpoints/, metrics.jsonl, samples-<step>.png, curves.svg, summary.json. */
  readonly out: string
  readonly initialParams: Readonly<Record<string, Float32Array>>
  /** Host batch for a step (raw data; the spec's transform runs on the device). Deterministic in step. */
  readonly hostBatch?: (step: number) => Float32Array
  /** Test batches for bits/dim (host data only). */
  readonly testBatches?: () => Iterable<Float32Array>
  readonly evalEvery?: number
  readonly evalOptions?: ElboOptions
  readonly sampleEvery?: number
  readonly sampler?: { readonly solver: Solver; readonly lambda: number; readonly steps: number; readonly count: number; readonly eps?: number }
  /** Turns generated samples [count, …sampleShape] into a PNG. */
  readonly render?: (samples: Float32Array | Float64Array, count: number) => Uint8Array
  readonly checkpointEvery?: number
  readonly keep?: number
  /** Anything JSON-able describing the run, stored in config.json and every checkpoint. */
  readonly config: unknown
}

/** What a finished run reports (also written to `<out>/summary.json`). */
export interface RunSummary {
  /** Optimizer steps the run has reached, rejected ones included. */
  readonly steps: number
  /** Wall-clock seconds of this process's steps (a resumed run counts from its restart). */
  readonly seconds: number
  readonly rejected: number
  /** Loss of the last accepted step of this process, if it took one. */
  readonly finalLoss?: number
  /** Test bits/dim of the last evaluation, if any. */
  readonly finalBpd?: number
  readonly evaluations: readonly { readonly step: number; readonly bpd: number }[]
}

/** The first option outside its domain: such a run would do nothing, or nothing but rejected steps. */
const invalidOption = (options: TrainOptions): InvalidOption | undefined => {
  if (!Number.isInteger(options.steps) || options.steps < 0) return invalid("steps", options.steps, "expected a whole number ≥ 0")
  if (!Number.isFinite(options.lr) || options.lr <= 0) return invalid("lr", options.lr, "expected a finite number > 0")
  if (!Number.isInteger(options.spec.batch) || options.spec.batch < 1) return invalid("batch", options.spec.batch, "expected a whole number ≥ 1")
  return undefined
}

/** Streams the events of a run; fails with TrainFailed (an invalid option: its `cause` is the `InvalidOption`). */
export const train = (options: TrainOptions): Stream.Stream<TrainEvent, TrainFailed> =>
  Stream.callback<TrainEvent, TrainFailed>((queue) =>
    Effect.gen(function* () {
      const fail = (message: string, cause?: unknown) => new TrainFailed({ message, cause })
      const bad = invalidOption(options)
      if (bad) return yield* fail(bad.message, bad)
      const metricsPath = join(options.out, "metrics.jsonl")
      // A full disk must fail the run with a typed error, not throw out of the generator as a defect.
      const emit = (event: TrainEvent) =>
        Effect.try({
          try: () => appendFileSync(metricsPath, JSON.stringify({ time: new Date().toISOString(), ...event }) + "\n"),
          catch: (e) => {
            const code = (e as { code?: string }).code ?? "EUNKNOWN"
            const cause = new WriteFailed({ path: metricsPath, code, message: `could not append to ${metricsPath} (${code}): ${String((e as Error).message ?? e)}` })
            return fail(cause.message, cause)
          },
        }).pipe(Effect.andThen(Queue.offer(queue, event)))
      const { spec, backend } = options
      const device = deviceWatch(backend)
      /** Device work (runs, reads, compiles); once the device is lost it fails with the DeviceLost as cause. */
      const onDevice = <A>(what: string, work: () => Promise<A>) =>
        Effect.tryPromise({ try: () => device.guard(work), catch: (e) => (isDeviceLost(e) ? fail(`${what}: ${e.message}`, e) : fail(`${what} failed: ${String(e)}`, e)) })
      mkdirSync(options.out, { recursive: true })
      const checkpointDir = join(options.out, "checkpoints")
      yield* writeFileAtomic(join(options.out, "config.json"), JSON.stringify(options.config, null, 2)).pipe(Effect.mapError((e) => fail(e.message, e)))

      const layout = paramLayout(spec.network.params)
      const latest = yield* latestCheckpoint(checkpointDir, layout.shapes).pipe(Effect.mapError((e) => fail(e.message, e)))
      const resumed = latest.found?.checkpoint
      const pack = (values: Readonly<Record<string, { readonly data: Float32Array }>>) =>
        packHost(Object.fromEntries(layout.names.map((n) => [n, values[n]!.data])), layout)
      // The state lives as four flat vectors (see programs.ts); checkpoints keep one tensor per parameter.
      const fresh = (): Record<StateName, InputValue> => {
        const params = packHost(options.initialParams, layout)
        return { params, m: new Float32Array(layout.size), v: new Float32Array(layout.size), ema: params.slice() }
      }
      // Initial parameters that do not fit the network fail the run (the cause names the parameter).
      let state: Record<StateName, InputValue> = yield* Effect.try({
        try: () => (resumed ? { params: pack(resumed.params), m: pack(resumed.adam.m), v: pack(resumed.adam.v), ema: pack(resumed.ema) } : fresh()),
        catch: (e) => fail(`initial parameters: ${(e as Error).message}`, e),
      })
      let step = resumed?.step ?? 0
      let rejected = (resumed?.rng as { rejected?: number } | undefined)?.rejected ?? 0
      yield* emit({
        _tag: "Started",
        step,
        totalSteps: options.steps,
        parameters: parameterCount(spec.network),
        ...(latest.found ? { resumedFrom: latest.found.path } : {}),
        skipped: latest.skipped.map((s) => s.path),
      })

      // float32 on the CPU backend too: the state must be exactly what a checkpoint stores (float32), or a resumed
      // run starts from rounded values and drifts from the uninterrupted trajectory (CPU's default is float64).
      // Compile progress goes to the stream only (metrics.jsonl keeps the run's numbers, not a progress bar).
      const compiling = (program: string) => (p: CompileProgress) =>
        void Queue.offerUnsafe(queue, { _tag: "Compiling", program, done: p.done, total: p.total, reused: p.reused, seconds: p.elapsedMs / 1000 })
      const compileOn = (program: string, fn: () => Record<string, Tensor>) =>
        onDevice(`compiling the ${program} program`, () => compile(fn, {}, { backend, precision: "f32", onCompile: compiling(program) }))
      const stepProgram: Executable = yield* compileOn("training", trainStep(spec))
      const evalProgram = options.testBatches && options.evalEvery ? yield* compileOn("evaluation", evalBitsPerDim(spec, options.evalOptions ?? {})) : undefined

      /** Host copies of the current state (for checkpoints). */
      const readState = onDevice("reading the training state back", async () => {
          const values: Partial<Record<StateName, Float32Array>> = {}
          for (const name of stateNames) values[name] = await toHost(backend, state[name])
          return values as Record<StateName, Float32Array>
      })
      const checkpoint = Effect.gen(function* () {
        const values = yield* readState
        const pick = (name: StateName) => unpackHost(values[name], layout)
        const ckpt: Checkpoint = { step, params: pick("params"), ema: pick("ema"), adam: { m: pick("m"), v: pick("v") }, rng: { seed: options.seed, rejected }, config: options.config }
        const path = yield* saveCheckpointTo(checkpointDir, ckpt, { keep: options.keep ?? 3 }).pipe(Effect.mapError((e) => fail(e.message, e)))
        yield* emit({ _tag: "Checkpointed", step, path })
      })
      // Interrupted (Ctrl-C, SIGTERM, a consumer that stops early): keep what was learned.
      let lastSaved = step
      yield* Effect.addFinalizer(() => (step > lastSaved ? checkpoint.pipe(Effect.ignore) : Effect.void))

      const history: { step: number; loss: number }[] = []
      const evals: { step: number; bpd: number }[] = []
      const started = performance.now()
      let windowStart = performance.now()
      let windowSteps = 0
      // A one-batch prefetch: the next host batch is gathered while the device runs this step.
      let prefetched: { readonly step: number; readonly batch: Float32Array } | undefined
      const hostBatch = (k: number) => (prefetched?.step === k ? prefetched.batch : options.hostBatch!(k))
      while (step < options.steps) {
        const next = step + 1
        const inputs: Record<string, InputValue> = { ...state, lr: options.lr, step: next }
        if (spec.data.kind === "host") inputs.x = hostBatch(next)
        const [loss, gradNorm] = yield* onDevice(`training step ${next}`, async () => {
          stepProgram.run(inputs, { seed: options.seed, step: next })
          if (spec.data.kind === "host" && next < options.steps) prefetched = { step: next + 1, batch: options.hostBatch!(next + 1) }
          return [(await stepProgram.read("loss"))[0]!, (await stepProgram.read("gradNorm"))[0]!] as const
        })
        if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
          // The outputs are discarded; the inputs still hold the last good state.
          rejected++
          for (const name of stateNames) state[name] = stepProgram.input(name)
          yield* emit({ _tag: "Rejected", step: next, loss, rejectedSoFar: rejected })
          if (rejected > 100 && rejected > step / 2) return yield* fail(`${rejected} of ${next} steps had a non-finite loss: giving up`)
          step = next
          continue
        }
        for (const name of stateNames) state[name] = stepProgram.output(name)
        step = next
        windowSteps++
        const elapsed = (performance.now() - windowStart) / 1000
        const stepsPerSecond = windowSteps / Math.max(elapsed, 1e-9)
        if (elapsed > 5) [windowStart, windowSteps] = [performance.now(), 0]
        history.push({ step, loss })
        yield* emit({ _tag: "Step", step, loss, gradNorm, lr: options.lr * Math.min(1, step / Math.max(1, spec.warmup)), stepsPerSecond })

        const due = (every: number | undefined) => every !== undefined && every > 0 && (step % every === 0 || step === options.steps)
        if (evalProgram && due(options.evalEvery)) {
          const bpds = yield* onDevice(`evaluation at step ${step}`, async () => {
            const values: number[] = []
            let k = 0
            for (const batch of options.testBatches!()) {
              evalProgram.run({ ema: state.ema, x: batch }, { seed: options.seed, step: k++ })
              values.push(...(await evalProgram.read("bpd")))
            }
            return values
          })
          const { mean, stderr } = meanAndStderr(bpds)
          evals.push({ step, bpd: mean })
          yield* emit({ _tag: "Evaluated", step, bpd: mean, stderr, samples: bpds.length })
        }
        if (options.sampler && options.render && due(options.sampleEvery)) {
          const sampler = options.sampler
          const path = join(options.out, `samples-${String(step).padStart(6, "0")}.png`)
          const samples = yield* onDevice(`sampling at step ${step}`, async () => {
            const params = flatParamInputs(spec.network, "ema")
            const rev = pluginReverse(spec.sde, driftModel(spec.network, params, spec.parameterisation), { lambda: sampler.lambda })
            const inputs = { ema: state.ema }
            const result = await solve(rev, sampler.solver, { backend, shape: [sampler.count, ...spec.sampleShape], steps: sampler.steps, seed: options.seed, inputs, t1: sampler.eps ?? DEFAULT_END_TIME, onCompile: compiling("sampling") })
            return result.x
          })
          yield* writeFileAtomic(path, options.render(samples, sampler.count)).pipe(Effect.mapError((e) => fail(e.message, e)))
          yield* emit({ _tag: "Sampled", step, path })
        }
        if (due(options.checkpointEvery)) {
          yield* checkpoint
          lastSaved = step
        }
        if (due(options.evalEvery) || due(options.checkpointEvery)) yield* writeCurves(options.out, history, evals)
      }
      yield* writeCurves(options.out, history, evals)
      if (step > lastSaved) {
        yield* checkpoint
        lastSaved = step
      }
      const seconds = (performance.now() - started) / 1000
      const summary: RunSummary = { steps: step, seconds, rejected, finalLoss: history.at(-1)?.loss, finalBpd: evals.at(-1)?.bpd, evaluations: evals }
      yield* writeFileAtomic(join(options.out, "summary.json"), JSON.stringify(summary, null, 2)).pipe(Effect.mapError((e) => fail(e.message, e)))
      yield* emit({ _tag: "Finished", step, seconds, rejected })
      yield* Queue.end(queue)
    }),
    // Bounded, so the loop waits for its consumer: with an unbounded queue a CPU-backend run (whose steps resolve
    // as microtasks) never yields, and a progress printer or a caller watching for a step sees nothing until the
    // whole run has finished.
    { bufferSize: eventBuffer, strategy: "suspend" },
  )

/** Events the loop may run ahead of its consumer. */
const eventBuffer = 16

const isDeviceLost = (e: unknown): e is DeviceLost => (e as { _tag?: unknown } | null)?._tag === "DeviceLost"

/**
 * Watches a WebGPU device for loss. `guard` runs device work so that it fails with the `DeviceLost` once the
 * device is gone — even when the work itself would never settle (a readback on a destroyed device) or fails
 * first with an unrelated-looking error (Dawn reports "popErrorScope on destroyed device" before `lost` settles).
 */
const deviceWatch = (backend: GpuHandle | "cpu") => {
  if (backend === "cpu") return { guard: <A>(work: () => Promise<A>) => work() }
  let lost: DeviceLost | undefined
  const settled = backend.lost.then((l) => (lost = l))
  const rejectOnLoss = settled.then((l) => Promise.reject(l))
  rejectOnLoss.catch(() => {}) // observed only through the races below
  // How long a failed call waits for `lost` to settle before it is reported as what it is.
  const grace = () => new Promise<undefined>((resolve) => setTimeout(resolve, 100, undefined))
  return {
    guard: async <A>(work: () => Promise<A>): Promise<A> => {
      if (lost) throw lost
      try {
        return await Promise.race([work(), rejectOnLoss])
      } catch (error) {
        throw lost ?? (isDeviceLost(error) ? error : ((await Promise.race([settled, grace()])) ?? error))
      }
    },
  }
}

/** A state value's contents on the host, whatever holds it: a host array, a CPU array or a GPU buffer. */
const toHost = async (backend: GpuHandle | "cpu", value: InputValue): Promise<Float32Array> => {
  if (value instanceof Float32Array) return value
  if (!(typeof value === "object" && "shape" in value)) return Float32Array.from(value as ArrayLike<number>)
  const device = value as DeviceValue
  if (device.array) return Float32Array.from(device.array)
  if (backend === "cpu" || !device.buffer) throw new Error("a GPU value needs the GPU backend to be read")
  return new Float32Array(await readback(backend.device, device.buffer, device.shape.reduce((a, b) => a * b, 1) * 4))
}

const writeCurves = (out: string, history: readonly { step: number; loss: number }[], evals: readonly { step: number; bpd: number }[]) => {
  const svg = curvesSvg([
    { label: "training loss", points: history.map((h) => [h.step, h.loss] as const), colour: "#1f77b4" },
    { label: "test bits/dim (ELBO)", points: evals.map((e) => [e.step, e.bpd] as const), colour: "#d62728" },
  ])
  return writeFileAtomic(join(out, "curves.svg"), svg).pipe(Effect.ignore)
}
