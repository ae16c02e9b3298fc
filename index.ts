/**
 * sdeflow — import everything from "sdeflow":
 *   import { compile, withGpu, vp, dsm, pluginReverse, solve, unet, fit } from "sdeflow"
 */
import { withGpu } from "./src/platform/bun.ts"
import { fitPresetWith, fitWith, type FitOptions, type FitPresetOptions, type FitResult } from "./src/train/fit.ts"
import type { PresetName, TrainConfig } from "./src/train/config.ts"
export * from "./src/index.ts"
export * from "./dsl/index.ts"
export { unet, mlp, specOf, parameterCount } from "./src/nn/index.ts"
export type {
  /** A network: its parameter declarations and `apply(params, …inputs)`. */
  Layer,
  /** One parameter's declaration: shape and initialiser. */
  ParamDecl,
  /** Parameter declarations by state_dict name (`layer.params`). */
  ParamDecls,
  /** Parameter shapes by state_dict name (what a checkpoint is checked against). */
  ParamSpec,
  /** Parameter tensors by state_dict name (what `layer.apply` reads). */
  Params,
} from "./src/nn/module.ts"
export { initParams } from "./src/nn/init.ts"
export type {
  /** A parameter's initialiser (`ParamDecl.init`). */
  Init,
  /** Which fan a variance-scaling initialiser scales by. */
  FanMode,
} from "./src/nn/init.ts"
export { adamStep, optimizerState } from "./src/nn/optim.ts"
export type {
  /** Tensors by parameter name, as `adamStep`, `clipByGlobalNorm` and `emaUpdate` take them. */
  ParamTensors,
  /** A host tensor: shape and float32 data. */
  HostTensor,
  /** Host tensors by parameter name (checkpoints, `optimizerState`, `unpackHost`). */
  HostParams,
  /** Options of `adamStep`: learning rate, step, betas, ε. */
  AdamOptions,
  /** What `adamStep` returns: new parameters and both moments. */
  AdamResult,
} from "./src/nn/optim.ts"
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
export type {
  /** How a training batch arrives: drawn on the device, or uploaded and transformed there. */
  DataPath,
  /** What the network predicts: the drift "a" or the "score". */
  Parameterisation,
  /** The names of the flat training state vectors (`stateNames`). */
  StateName,
} from "./src/train/programs.ts"
export { toySample, toyDatasets } from "./src/data/toy.ts"
/** A 2-D toy dataset's name (`toyDatasets`). */
export type { ToyDataset } from "./src/data/toy.ts"
/** Energy distance between two point clouds of dimension `dims` (0 iff the same law): a sample-quality score. */
export { energyDistance } from "./src/data/energy-distance.ts"
export { loadCifar10 } from "./src/data/cifar10.ts"
export type {
  /** Options of `loadCifar10`: split, cache folder, sources, retries, progress. */
  LoadCifar10Options,
  /** CIFAR-10 download and decoding progress. */
  LoadProgress,
  /** A loaded CIFAR-10 split: images and labels. */
  Cifar10,
  /** A CIFAR-10 split: "train" or "test". */
  Split,
  /** Where CIFAR-10 may be downloaded from. */
  CifarSource,
  /** How often and how patiently a download is retried. */
  RetryPolicy,
} from "./src/data/cifar10.ts"
/** Why `loadCifar10` failed. */
export type { DataError } from "./src/data/errors.ts"
export { train } from "./src/train/loop.ts"
/** A training run failed; `cause` carries the underlying typed error. */
export { TrainFailed } from "./src/train/loop.ts"
export type {
  /** `train`'s options: spec, device, steps, learning rate, seed, output folder, initial parameters, schedules. */
  TrainOptions,
  /** What a finished run reports (`<out>/summary.json`, `fit`'s `summary`). */
  RunSummary,
} from "./src/train/loop.ts"
export { trainingRun } from "./src/train/run.ts"
export { decodeConfig, presets } from "./src/train/config.ts"
/** A bad configuration: `issues` has one line per bad key. */
export { ConfigError } from "./src/train/config.ts"
export type {
  /** A validated run configuration (`decodeConfig`, `presets`). */
  TrainConfig,
  /** A preset's name: "cpu", "paper" or "swissroll". */
  PresetName,
} from "./src/train/config.ts"
export { progressPrinter } from "./src/train/progress.ts"
export { saveCheckpoint, loadCheckpoint, latestCheckpoint, loadParamsOnly } from "./src/train/checkpoint.ts"
/** A checkpoint that does not fit its model or is damaged: `reason` says how. */
export { CheckpointError } from "./src/train/checkpoint.ts"
export type {
  /** A training checkpoint: step, parameters, EMA, Adam moments, RNG state, config. */
  Checkpoint,
  /** What `latestCheckpoint` found, and which newer files it skipped as corrupt. */
  LatestCheckpoint,
  /** A checkpoint file `latestCheckpoint` skipped, and why. */
  SkippedCheckpoint,
  /** Why loading a checkpoint failed. */
  LoadError,
  /** Options of `loadCheckpoint` and `latestCheckpoint`. */
  LoadOptions,
  /** Options of `loadParamsOnly`. */
  ParamsOnlyOptions,
  /** What was wrong with a checkpoint, as `CheckpointError.reason`. */
  CheckpointReason,
} from "./src/train/checkpoint.ts"
export type { TrainEvent } from "./src/train/events.ts"
/** Samples of a trained model from the prior down to ε with the named solver and λ (what `sdeflow sample` draws). */
export { generate } from "./src/train/sample.ts"
export type {
  /** A trained network with its SDE, parameterisation, weights and sample shape. */
  TrainedModel,
  /** Options of `generate`: device, count, steps, solver, λ, seed, ε. */
  GenerateOptions,
  /** A solver's name as `generate` and the command line spell it. */
  SolverName,
} from "./src/train/sample.ts"
export type {
  /** What `fit` and `fitPreset` take besides the run's inputs: device, event callback, abort signal. */
  FitControl,
  /** `fit`'s options: `train`'s, the device optional, plus `onEvent` and `signal`. */
  FitOptions,
  /** `fitPreset`'s options: device, `onEvent`, `signal`, and CIFAR-10 loading progress. */
  FitPresetOptions,
  /** What `fit` and `fitPreset` resolve to: final parameters and EMA by name (host arrays), and the run summary. */
  FitResult,
} from "./src/train/fit.ts"

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
