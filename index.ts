/**
 * sdeflow: write SDEs as typed expressions, compile them into fused WebGPU kernels, train and sample score-based
 * diffusion models. Everything is imported from "sdeflow":
 *
 * ```ts
 * import { compile, withGpu, vp, dsm, pluginReverse, solve, unet, fit, time } from "sdeflow"
 * ```
 *
 * ## Names
 *
 * - Top-level names build, compile and run tensors: `Tensor`, `constant` (a scalar tensor), `input`, `normal`,
 *   `compile`, …. The `t` a compiled function, a drift model or an SDE's `drift`/`diffusion` receives is a scalar
 *   `Tensor` holding the current time.
 * - Time expressions (symbolic functions of time, which `linearSde` integrates and differentiates) live in the
 *   `time` namespace: `time.t` is their variable, `time.constant(c)` a constant function, `time.lerp(a, b)` a
 *   linear schedule, `time.show(e)` prints one. There is no top-level `t`: it would read as the `t` tensor.
 *
 * ## GPU entry points
 *
 * Each one hands out a `GpuHandle` (the `backend` of `compile`, `solve`, `train`, …), and fails with `NoAdapter`,
 * naming what is missing, when there is no working adapter.
 *
 * - A plain async script: `await withGpu(async (gpu) => …)` opens a device and closes it when the body settles.
 * - An Effect program: provide the `BunGpu` layer and read the device as `yield* Gpu`; the device is destroyed
 *   when the layer's scope closes, on failure and interruption too.
 * - A device held across calls (a test suite's `beforeAll`/`afterAll`, a server): `const gpu = await
 *   openBunGpu()` … `closeGpu(gpu)`.
 * - `fit` and `fitPreset` open a device for the run themselves unless `options.backend` gives one.
 *
 * @packageDocumentation
 */
import { withGpu } from "./src/platform/bun.ts"
import { fitPresetWith, fitWith, type FitOptions, type FitPresetOptions, type FitResult } from "./src/platform/train/fit.ts"
import type { PresetName, TrainConfig } from "./src/train/config.ts"
export * from "./src/index.ts"
export * from "./dsl/index.ts"
export { unet, mlp, specOf, parameterCount } from "./src/nn/index.ts"
export type { UNet, UNetConfig, MlpConfig } from "./src/nn/index.ts"
/** A network: its parameter declarations and `apply(params, …inputs)`. */
export type { Layer } from "./src/nn/module.ts"
/** One parameter's declaration: shape and initialiser. */
export type { ParamDecl } from "./src/nn/module.ts"
/** Parameter declarations by state_dict name (`layer.params`). */
export type { ParamDecls } from "./src/nn/module.ts"
/** Parameter shapes by state_dict name (what a checkpoint is checked against). */
export type { ParamSpec } from "./src/nn/module.ts"
/** Parameter tensors by state_dict name (what `layer.apply` reads). */
export type { Params } from "./src/nn/module.ts"
export { initParams } from "./src/nn/init.ts"
/** A parameter's initialiser (`ParamDecl.init`). */
export type { Init } from "./src/nn/init.ts"
/** Which fan a variance-scaling initialiser scales by. */
export type { FanMode } from "./src/nn/init.ts"
export { adamStep, optimizerState } from "./src/nn/optim.ts"
/** Tensors by parameter name, as `adamStep`, `clipByGlobalNorm` and `emaUpdate` take them. */
export type { ParamTensors } from "./src/nn/optim.ts"
/** A host tensor: shape and float32 data. */
export type { HostTensor } from "./src/nn/optim.ts"
/** Host tensors by parameter name (checkpoints, `optimizerState`, `unpackHost`). */
export type { HostParams } from "./src/nn/optim.ts"
/** Options of `adamStep`: learning rate, step, betas, ε. */
export type { AdamOptions } from "./src/nn/optim.ts"
/** What `adamStep` returns: new parameters and both moments. */
export type { AdamResult } from "./src/nn/optim.ts"
export { clipByGlobalNorm } from "./src/nn/optim-clip.ts"
/** What `clipByGlobalNorm` returns: the clipped gradients and the norm before clipping. */
export type { ClippedGrads } from "./src/nn/optim-clip.ts"
export { emaUpdate } from "./src/nn/optim-ema.ts"
export { flatten, packHost, paramLayout, unflatten, unpackHost, type ParamLayout } from "./src/nn/param-layout.ts"
export { trainStep, stateNames, type TrainSpec } from "./src/train/programs.ts"
/** The network as the DSL's drift model (`{ a }` or `{ score }`), reading its parameters from `params`. */
export { driftModel } from "./src/train/programs.ts"
/** One program input per network parameter, named as in the state_dict: trained weights feed them by name. */
export { paramInputs } from "./src/train/programs.ts"
/** How a training batch arrives: drawn on the device, or uploaded and transformed there. */
export type { DataPath } from "./src/train/programs.ts"
/** What the network predicts: the drift "a" or the "score". */
export type { Parameterisation } from "./src/train/programs.ts"
/** The names of the flat training state vectors (`stateNames`). */
export type { StateName } from "./src/train/programs.ts"
export { toySample, toyDatasets } from "./src/data/toy.ts"
/** A 2-D toy dataset's name (`toyDatasets`). */
export type { ToyDataset } from "./src/data/toy.ts"
/** Energy distance between two point clouds of dimension `dims` (0 iff the same law): a sample-quality score. */
export { energyDistance } from "./src/data/energy-distance.ts"
export { loadCifar10 } from "./src/platform/cifar/cifar10.ts"
/** Options of `loadCifar10`: split, cache folder, sources, retries, progress. */
export type { LoadCifar10Options } from "./src/platform/cifar/cifar10.ts"
/** CIFAR-10 download and decoding progress. */
export type { LoadProgress } from "./src/platform/cifar/cifar10.ts"
/** A loaded CIFAR-10 split: images and labels. */
export type { Cifar10 } from "./src/platform/cifar/cifar10.ts"
/** A CIFAR-10 split: "train" or "test". */
export type { Split } from "./src/platform/cifar/cifar10.ts"
/** Where CIFAR-10 may be downloaded from. */
export type { CifarSource } from "./src/platform/cifar/cifar10.ts"
/** How often and how patiently a download is retried. */
export type { RetryPolicy } from "./src/platform/cifar/cifar10.ts"
/** Why `loadCifar10` failed. */
export type { DataError } from "./src/data/errors.ts"
export { SourceUnavailable, DownloadFailed, ChecksumMismatch, CorruptArchive, CacheCorrupt } from "./src/data/errors.ts"
export { train } from "./src/platform/train/loop.ts"
/** A training run failed; `cause` carries the underlying typed error. */
export { TrainFailed } from "./src/platform/train/loop.ts"
/** `train`'s options: spec, device, steps, learning rate, seed, output folder, initial parameters, schedules. */
export type { TrainOptions } from "./src/platform/train/loop.ts"
/** What a finished run reports (`<out>/summary.json`, `fit`'s `summary`). */
export type { RunSummary } from "./src/platform/train/loop.ts"
export { trainingRun } from "./src/platform/train/run.ts"
export { decodeConfig, presets } from "./src/train/config.ts"
/** A bad configuration: `issues` has one line per bad key. */
export { ConfigError } from "./src/train/config.ts"
/** A validated run configuration (`decodeConfig`, `presets`). */
export type { TrainConfig } from "./src/train/config.ts"
/** A preset's name: a key of `presets`. */
export type { PresetName } from "./src/train/config.ts"
/** The preset a run gets when none is named: `cpu` on CPU adapters, `gpu` on GPUs, and a one-line reason. */
export { presetFor } from "./src/train/preset-for.ts"
/** What `presetFor` returns: the preset and why. */
export type { PresetChoice } from "./src/train/preset-for.ts"
export { progressPrinter } from "./src/platform/train/progress.ts"
export { saveCheckpoint, loadCheckpoint, latestCheckpoint, loadParamsOnly } from "./src/platform/train/checkpoint.ts"
/** A checkpoint that does not fit its model or is damaged: `reason` says how. */
export { CheckpointError } from "./src/platform/train/checkpoint.ts"
/** A training checkpoint: step, parameters, EMA, Adam moments, RNG state, config. */
export type { Checkpoint } from "./src/platform/train/checkpoint.ts"
/** What `latestCheckpoint` found, and which newer files it skipped as corrupt. */
export type { LatestCheckpoint } from "./src/platform/train/checkpoint.ts"
/** A checkpoint file `latestCheckpoint` skipped, and why. */
export type { SkippedCheckpoint } from "./src/platform/train/checkpoint.ts"
/** Why loading a checkpoint failed. */
export type { LoadError } from "./src/platform/train/checkpoint.ts"
/** Options of `loadCheckpoint` and `latestCheckpoint`. */
export type { LoadOptions } from "./src/platform/train/checkpoint.ts"
/** Options of `loadParamsOnly`. */
export type { ParamsOnlyOptions } from "./src/platform/train/checkpoint.ts"
/** What was wrong with a checkpoint, as `CheckpointError.reason`. */
export type { CheckpointReason } from "./src/platform/train/checkpoint.ts"
export type { TrainEvent } from "./src/train/events.ts"
/** Samples of a trained model from the prior down to ε with the named solver and λ (what `sdeflow sample` draws). */
export { generate } from "./src/train/sample.ts"
/** The solvers `generate` and the command line know by name (`SolverName`). */
export { solverNames } from "./src/train/sample.ts"
/** A trained network with its SDE, parameterisation, weights and sample shape. */
export type { TrainedModel } from "./src/train/sample.ts"
/** Options of `generate`: device, count, steps, solver, λ, seed, ε. */
export type { GenerateOptions } from "./src/train/sample.ts"
/** A solver's name as `generate` and the command line spell it. */
export type { SolverName } from "./src/train/sample.ts"
/** What `fit` and `fitPreset` take besides the run's inputs: device, event callback, abort signal. */
export type { FitControl } from "./src/platform/train/fit.ts"
/** `fit`'s options: `train`'s, the device optional, plus `onEvent` and `signal`. */
export type { FitOptions } from "./src/platform/train/fit.ts"
/** `fitPreset`'s options: device, `onEvent`, `signal`, and CIFAR-10 loading progress. */
export type { FitPresetOptions } from "./src/platform/train/fit.ts"
/** What `fit` and `fitPreset` resolve to: final parameters and EMA by name (host arrays), and the run summary. */
export type { FitResult } from "./src/platform/train/fit.ts"

/**
 * `train` without Effect: runs it to completion — on `options.backend`, or on a device opened for the run — and
 * resolves to the final `{ params, ema, summary }`; `onEvent` sees every event, aborting `signal` checkpoints and
 * rejects with its reason; rejects with `TrainFailed` when the run fails.
 */
export const fit = (options: FitOptions): Promise<FitResult> => fitWith(withGpu, options)

/**
 * A preset's run (`sdeflow train --preset …`, with `overrides` of its keys) as `fit` runs `train`; rejects with
 * `ConfigError` for a bad configuration before any device work, with `TrainFailed` when the run fails.
 */
export const fitPreset = (preset: PresetName, overrides: Partial<TrainConfig> = {}, options: FitPresetOptions = {}): Promise<FitResult> =>
  fitPresetWith(withGpu, preset, overrides, options)
