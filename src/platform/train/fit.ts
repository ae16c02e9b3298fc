/**
 * The training loop as a Promise, for scripts that do not use Effect. `fitWith` runs `train` to completion
 * and resolves to the final parameters, their EMA and the run summary; `fitPresetWith` does the same for a
 * preset configuration (what `sdeflow train` runs). Both reject with the typed error of the run
 * (`TrainFailed`, or `ConfigError` for a bad configuration). An aborted `signal` interrupts the run as Ctrl-C
 * interrupts `sdeflow train`: the loop checkpoints what it has learned, and the promise rejects with
 * `signal.reason`; the same call with the same output folder resumes from that checkpoint.
 * Which device opens when none is given is the caller's `DeviceScope` (index.ts binds `fit` and `fitPreset` to
 * Bun's `withGpu`).
 */
import { Effect, Stream } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import type { GpuHandle } from "../../runtime/gpu.ts"
import { paramLayout } from "../../nn/param-layout.ts"
import { initParams } from "../../nn/init.ts"
import type { LoadProgress } from "../cifar/cifar10.ts"
import { latestCheckpoint } from "./checkpoint.ts"
import { decodeConfig, type PresetName, type TrainConfig } from "../../train/config.ts"
import type { TrainEvent } from "../../train/events.ts"
import { train, TrainFailed, type RunSummary, type TrainOptions } from "./loop.ts"
import { networkFor, trainingRun } from "./run.ts"

/** Runs `body` on a device it opens, closing the device afterwards (`withGpu` on Bun). */
export type DeviceScope = <A>(body: (gpu: GpuHandle) => Promise<A>) => Promise<A>

/** What a Promise run takes besides its training inputs. */
export interface FitControl {
  /** The device to train on ("cpu": the CPU backend); when absent, one is opened for the run and closed after it. */
  readonly backend?: GpuHandle | "cpu"
  /** Called with every event of the run, in order (e.g. `progressPrinter()`). */
  readonly onEvent?: (event: TrainEvent) => void
  /** Aborting interrupts the run: the loop writes a checkpoint, and the promise rejects with `signal.reason`. */
  readonly signal?: AbortSignal
}

/** `train`'s options, the device optional, plus the callbacks of a Promise run. */
export interface FitOptions extends Omit<TrainOptions, "backend">, FitControl {}

/** How `fitPreset` runs: the device, the event callback, the abort signal, and CIFAR-10 loading progress. */
export interface FitPresetOptions extends FitControl {
  /** CIFAR-10 download and decoding progress (image presets only). */
  readonly onData?: (progress: LoadProgress) => void
}

/** A finished run: the final parameters and their EMA by state_dict name (host copies), and its summary. */
export interface FitResult {
  readonly params: Record<string, Float32Array>
  readonly ema: Record<string, Float32Array>
  readonly summary: RunSummary
}

/** `train(options)` to completion; see the module comment. */
export const fitWith = async (scope: DeviceScope, options: FitOptions): Promise<FitResult> => {
  const { backend, onEvent, signal, ...trainOptions } = options
  const shapes = paramLayout(options.spec.network.params).shapes
  return onDevice(scope, { backend, onEvent, signal }, (device) => train({ ...trainOptions, backend: device }), options.out, shapes, () => options.initialParams)
}

/** The run of preset `preset` with `overrides` (validated as `decodeConfig` does) to completion; see the module comment. */
export const fitPresetWith = async (scope: DeviceScope, preset: PresetName, overrides: Partial<TrainConfig>, options: FitPresetOptions = {}): Promise<FitResult> => {
  const config = await Effect.runPromise(decodeConfig(preset, overrides))
  const network = networkFor(config)
  const shapes = paramLayout(network.params).shapes
  return onDevice(scope, options, (device) => trainingRun(config, device, options.onData), config.out, shapes, () => initParams(network, config.seed))
}

/** Runs the events of `run` on the given device or one from `scope`, then reads the final state back from `out`. */
const onDevice = (
  scope: DeviceScope,
  control: FitControl,
  run: (backend: GpuHandle | "cpu") => Stream.Stream<TrainEvent, TrainFailed>,
  out: string,
  shapes: Readonly<Record<string, readonly number[]>>,
  initial: () => Readonly<Record<string, Float32Array>>,
): Promise<FitResult> => {
  const drain = async (backend: GpuHandle | "cpu") => {
    const events = Stream.runForEach(run(backend), (event) => Effect.sync(() => control.onEvent?.(event)))
    try {
      return await Effect.runPromise(Effect.andThen(events, finalState(out, shapes, initial)), { signal: control.signal })
    } catch (error) {
      throw control.signal?.aborted ? control.signal.reason : error
    }
  }
  return control.backend === undefined ? scope(drain) : drain(control.backend)
}

/**
 * The state a finished run left in `out`: the loop ends every run that took a step with a checkpoint, so the
 * newest one holds the final parameters and EMA (a run that took none has its initial parameters as both).
 */
const finalState = (out: string, shapes: Readonly<Record<string, readonly number[]>>, initial: () => Readonly<Record<string, Float32Array>>) =>
  Effect.gen(function* () {
    const latest = yield* latestCheckpoint(join(out, "checkpoints"), shapes).pipe(Effect.mapError((e) => new TrainFailed({ message: e.message, cause: e })))
    const path = join(out, "summary.json")
    const summary = yield* Effect.try({
      try: () => JSON.parse(readFileSync(path, "utf8")) as RunSummary,
      catch: (e) => new TrainFailed({ message: `could not read ${path}: ${String((e as Error).message ?? e)}`, cause: e }),
    })
    const found = latest.found?.checkpoint
    if (!found) return { params: copies(initial()), ema: copies(initial()), summary }
    return { params: dataOf(found.params), ema: dataOf(found.ema), summary }
  })

const copies = (values: Readonly<Record<string, ArrayLike<number>>>) => Object.fromEntries(Object.entries(values).map(([name, v]) => [name, Float32Array.from(v)]))
const dataOf = (values: Readonly<Record<string, { readonly data: Float32Array }>>) => Object.fromEntries(Object.entries(values).map(([name, t]) => [name, t.data]))
