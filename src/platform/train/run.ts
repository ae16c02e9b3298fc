/**
 * From a validated config to a running training stream: picks the SDE, network, data path and
 * objective, loads CIFAR-10 when asked (cached, verified), and wires evaluation and sample grids.
 * Shared by `sdeflow train` and the examples.
 */
import { Effect, Stream } from "effect"
import type { GpuHandle } from "../../runtime/gpu.ts"
import { initParams } from "../../nn/init.ts"
import { loadCifar10, type LoadProgress } from "../cifar/cifar10.ts"
import { IMAGE_BYTES, type Cifar10 } from "../../data/cifar-dataset.ts"
import { epochPermutation } from "../../data/batch-sampler.ts"
import { dequantizeLogit, logitToUnit } from "../../data/image-transforms.ts"
import { toySample, type ToyDataset } from "../../data/toy.ts"
import { imageGrid, scatterPlot } from "../../io/png-grid.ts"
import { importanceTime, uniformTime } from "../../../dsl/importance.ts"
import { DEFAULT_END_TIME } from "../../../dsl/reverse.ts"
import { eulerMaruyama } from "../../../dsl/solvers.ts"
import type { TrainConfig } from "../../train/config.ts"
import { networkFor, sdeFor } from "../../train/model-for.ts"

export { networkFor, sdeFor } from "../../train/model-for.ts"
import { train, TrainFailed, type TrainOptions } from "./loop.ts"
import type { TrainSpec } from "../../train/programs.ts"
import type { TrainEvent } from "../../train/events.ts"


/** One sample's shape for `config`'s dataset. */
export const sampleShapeFor = (config: TrainConfig): readonly number[] => (config.dataset === "cifar10" ? [3, 32, 32] : [2])

/** Batch k of an epoch-shuffled pass over `data`, as raw pixel values [batch, 3, 32, 32]. */
export const cifarBatches = (data: Cifar10, batch: number, seed: number) => {
  const perEpoch = Math.floor(data.labels.length / batch)
  let cached: { epoch: number; order: Uint32Array } | undefined
  return (step: number): Float32Array => {
    const index = step - 1
    const epoch = Math.floor(index / perEpoch)
    if (cached?.epoch !== epoch) cached = { epoch, order: epochPermutation(data.labels.length, seed, epoch) }
    const out = new Float32Array(batch * IMAGE_BYTES)
    const start = (index % perEpoch) * batch
    for (let b = 0; b < batch; b++) {
      const image = cached.order[start + b]!
      out.set(data.images.subarray(image * IMAGE_BYTES, (image + 1) * IMAGE_BYTES), b * IMAGE_BYTES)
    }
    return out
  }
}

/** The first `count` test images in batches (a fixed subset, so bpd numbers are comparable across steps). */
const testBatches = (data: Cifar10, batch: number, count: number) => (): Iterable<Float32Array> => {
  const batches: Float32Array[] = []
  for (let start = 0; start + batch <= Math.min(count, data.labels.length); start += batch)
    batches.push(Float32Array.from(data.images.subarray(start * IMAGE_BYTES, (start + batch) * IMAGE_BYTES)))
  return batches
}

/** The training stream of `config` on `backend`; `onData` reports CIFAR-10 download/decoding progress. */
export const trainingRun = (config: TrainConfig, backend: GpuHandle | "cpu", onData?: (p: LoadProgress) => void): Stream.Stream<TrainEvent, TrainFailed> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const sde = sdeFor(config)
      const image = config.dataset === "cifar10"
      const network = networkFor(config)
      const objective = { kind: "dsm" as const, options: { t: config.debias ? importanceTime(Math.max(config.eps, DEFAULT_END_TIME)) : uniformTime(config.eps) } }
      const common = { sde, network, parameterisation: "a" as const, objective, batch: config.batch, warmup: config.warmup, gradClip: config.gradClip, emaDecay: config.emaDecay }
      const base = { backend, steps: config.steps, lr: config.lr, seed: config.seed, out: config.out, initialParams: initParams(network, config.seed), checkpointEvery: config.checkpointEvery, keep: config.keep, config }
      const sampler = { solver: eulerMaruyama(), lambda: 0, steps: config.sampleSteps, count: config.sampleCount, eps: config.eps }
      if (!image) {
        const spec: TrainSpec = { ...common, sampleShape: [2], data: { kind: "device", sample: (n) => toySample(config.dataset as ToyDataset, n) } }
        const render = (x: ArrayLike<number>) => scatterPlot([{ points: x, rgb: [31, 119, 180] }])
        return train({ ...base, spec, sampleEvery: config.sampleEvery, sampler, render })
      }
      const load = (split: "train" | "test") =>
        loadCifar10({ split, ...(onData ? { onProgress: onData } : {}) }).pipe(Effect.mapError((e) => new TrainFailed({ message: `CIFAR-10 ${split}: ${e.message}`, cause: e })))
      const [trainData, testData] = [yield* load("train"), yield* load("test")]
      const spec: TrainSpec = { ...common, sampleShape: [3, 32, 32], data: { kind: "host", transform: (raw) => dequantizeLogit(raw) } }
      const options: TrainOptions = {
        ...base,
        spec,
        hostBatch: cifarBatches(trainData, config.batch, config.seed),
        ...(config.evalEvery > 0 && config.evalSamples >= config.batch ? { testBatches: testBatches(testData, config.batch, config.evalSamples), evalEvery: config.evalEvery } : {}),
        evalOptions: { t: uniformTime(config.eps) },
        sampleEvery: config.sampleEvery,
        sampler,
        render: (x, n) => imageGrid(logitToUnit(x), n, 3, 32, 32),
      }
      return train(options)
    }),
  )
