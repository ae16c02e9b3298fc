/**
 * sdeflow — import everything from "sdeflow":
 *   import { compile, withGpu, vp, dsm, pluginReverse, solve, unet, train } from "sdeflow"
 */
export * from "./src/index.ts"
export * from "./dsl/index.ts"
export { unet, mlp, specOf, parameterCount } from "./src/nn/index.ts"
export { initParams } from "./src/nn/init.ts"
export { adamStep, optimizerState } from "./src/nn/optim.ts"
export { clipByGlobalNorm } from "./src/nn/optim-clip.ts"
export { emaUpdate } from "./src/nn/optim-ema.ts"
export { toySample, toyDatasets } from "./src/data/toy.ts"
export { loadCifar10 } from "./src/data/cifar10.ts"
export { train } from "./src/train/loop.ts"
export { trainingRun } from "./src/train/run.ts"
export { decodeConfig, presets } from "./src/train/config.ts"
export { progressPrinter } from "./src/train/progress.ts"
export { saveCheckpoint, loadCheckpoint, latestCheckpoint, loadParamsOnly } from "./src/train/checkpoint.ts"
export type { TrainEvent } from "./src/train/events.ts"
