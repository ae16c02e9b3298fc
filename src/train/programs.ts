/**
 * The programs a training run compiles once and replays: the train step (objective → gradients →
 * clipping → Adam → EMA, all one program, state in and state out), and test-set bits/dim via the ELBO.
 * State tensors are named `<param>`, `m/<param>`, `v/<param>`, `ema/<param>` both as inputs and as
 * outputs, so feeding step k's outputs to step k+1 is a loop over names.
 */
import { grad, type Tensor } from "../index.ts"
import type { Layer } from "../nn/module.ts"
import { adamStep } from "../nn/optim.ts"
import { clipByGlobalNorm } from "../nn/optim-clip.ts"
import { emaUpdate } from "../nn/optim-ema.ts"
import { warmupLr } from "../nn/optim-warmup.ts"
import { input } from "../ir/tensor.ts"
import type { DriftModel } from "../../dsl/reverse.ts"
import type { LinearSde } from "../../dsl/sde.ts"
import { bitsPerDim, dsm, elbo, type DsmOptions, type ElboOptions } from "../../dsl/objectives.ts"

export type Parameterisation = "a" | "score"

/** How each step's batch arrives: drawn inside the program, or uploaded and transformed on the device. */
export type DataPath =
  | { readonly kind: "device"; readonly sample: (n: number) => Tensor }
  | { readonly kind: "host"; readonly transform: (raw: Tensor) => { readonly x: Tensor; readonly logDet?: Tensor } }

export interface TrainSpec {
  readonly sde: LinearSde
  readonly network: Layer<[Tensor, Tensor]>
  readonly parameterisation: Parameterisation
  readonly objective: { readonly kind: "dsm"; readonly options: DsmOptions } | { readonly kind: "elbo"; readonly options: ElboOptions }
  readonly batch: number
  /** Shape of one sample, e.g. [3, 32, 32] or [2]. */
  readonly sampleShape: readonly number[]
  readonly data: DataPath
  readonly warmup: number
  readonly gradClip: number
  readonly emaDecay: number
}

export const stateKinds = ["", "m/", "v/", "ema/"] as const

/** Every state tensor's name and shape. */
export const stateSpec = (network: Layer<[Tensor, Tensor]>): Record<string, number[]> =>
  Object.fromEntries(stateKinds.flatMap((kind) => Object.entries(network.params).map(([name, d]) => [`${kind}${name}`, [...d.shape]])))

/** Parameter tensors as program inputs (named as in the state_dict, or with a prefix such as "ema/"). */
export const paramInputs = (network: Layer<[Tensor, Tensor]>, prefix = ""): Record<string, Tensor> =>
  Object.fromEntries(Object.entries(network.params).map(([name, d]) => [name, input(`${prefix}${name}`, d.shape)]))

/** The network as the DSL's drift model, reading parameters `params`. */
export const driftModel = (network: Layer<[Tensor, Tensor]>, params: Record<string, Tensor>, parameterisation: Parameterisation): DriftModel => {
  const f = (x: Tensor, t: Tensor) => network.apply(params, x, t)
  return parameterisation === "a" ? { a: f } : { score: f }
}

/** The train step as a traceable function of no explicit inputs: everything is a named input node. */
export const trainStep = (spec: TrainSpec) => (): Record<string, Tensor> => {
  const names = Object.keys(spec.network.params)
  const params = paramInputs(spec.network)
  const m = paramInputs(spec.network, "m/")
  const v = paramInputs(spec.network, "v/")
  const ema = paramInputs(spec.network, "ema/")
  const lr = input("lr", [])
  const step = input("step", [])
  const x = spec.data.kind === "device" ? spec.data.sample(spec.batch) : spec.data.transform(input("x", [spec.batch, ...spec.sampleShape])).x
  const model = driftModel(spec.network, params, spec.parameterisation)
  const perSample = spec.objective.kind === "dsm" ? dsm(spec.sde, model, x, spec.objective.options) : elbo(spec.sde, model, x, spec.objective.options).neg()
  const loss = perSample.mean()
  const grads = grad(loss, names.map((n) => params[n]!))
  const clipped = clipByGlobalNorm(Object.fromEntries(names.map((n, i) => [n, grads[i]!])), spec.gradClip)
  const updated = adamStep(params, clipped.grads, m, v, { lr: warmupLr(lr, step, spec.warmup), step })
  const averaged = emaUpdate(ema, updated.params, spec.emaDecay)
  const outputs: Record<string, Tensor> = { loss, gradNorm: clipped.norm }
  for (const n of names) {
    outputs[n] = updated.params[n]!
    outputs[`m/${n}`] = updated.m[n]!
    outputs[`v/${n}`] = updated.v[n]!
    outputs[`ema/${n}`] = averaged[n]!
  }
  return outputs
}

/** Per-sample bits/dim of a host batch through the ELBO, with parameters read from `ema/<name>` inputs. */
export const evalBitsPerDim = (spec: TrainSpec, options: ElboOptions) => (): Record<string, Tensor> => {
  if (spec.data.kind !== "host") throw new Error("bits/dim evaluation needs host data with a transform")
  const params = paramInputs(spec.network, "ema/")
  const { x, logDet } = spec.data.transform(input("x", [spec.batch, ...spec.sampleShape]))
  const model = driftModel(spec.network, params, spec.parameterisation)
  const dims = spec.sampleShape.reduce((a, b) => a * b, 1)
  return { bpd: bitsPerDim(elbo(spec.sde, model, x, options), dims, logDet) }
}
