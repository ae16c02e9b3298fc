/**
 * Likelihood of a trained model, two ways:
 *  - the continuous-time ELBO (Huang et al. 2021, Thm. 2): a lower bound, one network pass per sample;
 *  - the probability-flow ODE (RK4 with a Hutchinson or exact divergence): the model's exact likelihood,
 *    up to solver error, at ~4·steps network passes per sample.
 * Images are reported in bits/dim of the 8-bit data (uniform dequantisation + the logit's log-determinant,
 * as in training); 2-D toy data in nats per point (a log-likelihood, so higher is better).
 */
import { compile } from "../compile/compile.ts"
import { input, type Tensor } from "../ir/tensor.ts"
import type { GpuHandle } from "../runtime/gpu.ts"
import type { InputValue } from "../runtime/executable.ts"
import { dequantizeLogit } from "../data/image-transforms.ts"
import { toySample, type ToyDataset } from "../data/toy.ts"
import { bitsPerDim, elbo } from "../../dsl/objectives.ts"
import { probabilityFlowLikelihood } from "../../dsl/likelihood.ts"
import { importanceTime, uniformTime } from "../../dsl/importance.ts"
import { DEFAULT_END_TIME } from "../../dsl/reverse.ts"
import { meanAndStderr } from "./events.ts"
import { driftModel, paramInputs } from "./programs.ts"
import type { TrainedModel } from "./sample.ts"

/** What to evaluate on: fresh draws of a toy dataset, or raw 8-bit images [N·C·H·W] (e.g. the CIFAR-10 test set). */
export type EvalData = { readonly kind: "toy"; readonly dataset: ToyDataset } | { readonly kind: "images"; readonly images: Uint8Array }

/** A Monte-Carlo estimate over `samples` data points. */
export interface Estimate {
  readonly mean: number
  readonly stderr: number
  readonly samples: number
  /** "bits/dim" (lower is better) or "nats" (a log-likelihood per point, higher is better). */
  readonly unit: "bits/dim" | "nats"
}

export interface EvaluateOptions {
  readonly backend: GpuHandle | "cpu"
  /** Data points to average over (images: the first N of `images`). */
  readonly samples: number
  /** Images per program run (toy data runs all samples at once). */
  readonly batch: number
  /** Time cut-off ε of the bound / the ODE's start time. */
  readonly eps: number
  readonly seed: number
}

const dimsOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1)

/** Runs `perBatch` over consecutive slices of at most `batch` of the first `samples` images. */
const overImageBatches = async (images: Uint8Array, shape: readonly number[], options: EvaluateOptions, perBatch: (raw: Float32Array, size: number, index: number) => Promise<ArrayLike<number>>): Promise<number[]> => {
  const dims = dimsOf(shape)
  const available = Math.floor(images.length / dims)
  if (options.samples > available) throw new RangeError(`asked for ${options.samples} images, the data holds ${available}`)
  const values: number[] = []
  for (let start = 0, k = 0; start < options.samples; start += options.batch, k++) {
    const size = Math.min(options.batch, options.samples - start)
    values.push(...Array.from(await perBatch(Float32Array.from(images.subarray(start * dims, (start + size) * dims)), size, k)))
  }
  return values
}

/**
 * ELBO per data point, averaged. Toy data: fresh draws, importance-sampled t (lower variance, same bound).
 * Images: uniform t on [ε, T] and no flips — the same bound as training's `Evaluated` events.
 */
export const elboEstimate = async (model: TrainedModel, data: EvalData, options: EvaluateOptions): Promise<Estimate> => {
  const params = paramInputs(model.network)
  const drift = driftModel(model.network, params, model.parameterisation)
  const { backend, seed } = options
  if (data.kind === "toy") {
    const program = await compile(() => elbo(model.sde, drift, toySample(data.dataset, options.samples), { t: importanceTime(Math.max(options.eps, DEFAULT_END_TIME)) }), {}, { backend })
    program.run(model.weights, { seed, step: 0 })
    return { ...meanAndStderr(await program.read("out")), samples: options.samples, unit: "nats" }
  }
  const programs = new Map<number, Awaited<ReturnType<typeof compile>>>()
  const programFor = async (size: number) => {
    const cached = programs.get(size)
    if (cached) return cached
    const program = await compile(
      () => {
        const { x, logDet } = dequantizeLogit(input("x", [size, ...model.sampleShape]), { flip: false })
        return { bpd: bitsPerDim(elbo(model.sde, drift, x, { t: uniformTime(options.eps) }), dimsOf(model.sampleShape), logDet) }
      },
      {},
      { backend },
    )
    programs.set(size, program)
    return program
  }
  const values = await overImageBatches(data.images, model.sampleShape, options, async (raw, size, k) => {
    const program = await programFor(size)
    program.run({ ...model.weights, x: raw }, { seed, step: k })
    return program.read("bpd")
  })
  return { ...meanAndStderr(values), samples: values.length, unit: "bits/dim" }
}

export interface FlowOptions extends EvaluateOptions {
  /** RK4 steps from ε to T. */
  readonly steps: number
  /** "exact" costs D vjps per evaluation: the default for toy data (D = 2); images use Hutchinson. */
  readonly divergence?: "exact" | "hutchinson"
}

/** The keys of image batch k in `flowEstimate`: its dequantisation runs at (seed, step k), its probe at seed + k. */
export const flowBatchKeys = (seed: number, k: number): { readonly dequantise: { readonly seed: number; readonly step: number }; readonly probeSeed: number } =>
  ({ dequantise: { seed, step: k }, probeSeed: seed + k })

/** `flowEstimate`'s per-batch transform: raw 8-bit images [size, …sampleShape] → logit-space x and logDet, no flips. */
export const flowTransform = (backend: GpuHandle | "cpu", sampleShape: readonly number[], size: number) =>
  compile((): Record<string, Tensor> => dequantizeLogit(input("raw", [size, ...sampleShape]), { flip: false }), {}, { backend })

/** Probability-flow ODE likelihood per data point (dequantised as in `elboEstimate`), averaged. */
export const flowEstimate = async (model: TrainedModel, data: EvalData, options: FlowOptions): Promise<Estimate> => {
  const drift = driftModel(model.network, paramInputs(model.network), model.parameterisation)
  const { backend, seed } = options
  const likelihood = (x: InputValue, size: number, divergence: "exact" | "hutchinson", k: number) =>
    probabilityFlowLikelihood(model.sde, drift, x, { backend, shape: [size, ...model.sampleShape], steps: options.steps, eps: options.eps, divergence, seed: flowBatchKeys(seed, k).probeSeed, inputs: model.weights })
  if (data.kind === "toy") {
    const draw = await compile(() => toySample(data.dataset, options.samples), {}, { backend })
    draw.run({}, { seed, step: 0 })
    const values = await likelihood(draw.output("out"), options.samples, options.divergence ?? "exact", 0)
    return { ...meanAndStderr(values), samples: options.samples, unit: "nats" }
  }
  const dims = dimsOf(model.sampleShape)
  const values = await overImageBatches(data.images, model.sampleShape, options, async (raw, size, k) => {
    const transform = await flowTransform(backend, model.sampleShape, size)
    transform.run({ raw }, flowBatchKeys(seed, k).dequantise)
    const logLikelihood = await likelihood(transform.output("x"), size, options.divergence ?? "hutchinson", k)
    const logDet = await transform.read("logDet")
    // bits/dim of the 8-bit data: −(log p(y) + log|dy/du|) / (D ln 2) + log₂ 256.
    return Array.from(logLikelihood, (ll, i) => -(ll + logDet[i]!) / (dims * Math.LN2) + 8)
  })
  return { ...meanAndStderr(values), samples: values.length, unit: "bits/dim" }
}
