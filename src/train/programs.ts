/**
 * The programs a training run compiles once and replays: the train step (objective → gradients →
 * clipping → Adam → EMA, all one program, state in and state out), and test-set bits/dim via the ELBO.
 * The state is four flat vectors — `params`, `m`, `v`, `ema` — laid out by `paramLayout`: the network
 * reads its parameters as views of `params`, every gradient kernel writes into one flat gradient, and a
 * single kernel then updates all parameters, both Adam moments and the EMA. Inputs and outputs share
 * the four names, so feeding step k's outputs to step k+1 is a loop over them.
 */
import { grad } from "../ir/autodiff.ts"
import type { Tensor } from "../ir/tensor.ts"
import type { Layer } from "../nn/module.ts"
import { adamStep } from "../nn/optim.ts"
import { clipByGlobalNorm } from "../nn/optim-clip.ts"
import { emaUpdate } from "../nn/optim-ema.ts"
import { warmupLr } from "../nn/optim-warmup.ts"
import { flatten, paramLayout, unflatten, type ParamLayout } from "../nn/param-layout.ts"
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

/** The flat state vectors of a training run, each of the layout's size. */
export const stateNames = ["params", "m", "v", "ema"] as const
export type StateName = (typeof stateNames)[number]

/** Every state vector's name and shape. */
export const stateSpec = (layout: ParamLayout): Record<StateName, number[]> =>
  Object.fromEntries(stateNames.map((name) => [name, [layout.size]])) as Record<StateName, number[]>

/** Parameter tensors as program inputs (named as in the state_dict, or with a prefix such as "ema/"). */
export const paramInputs = (network: Layer<[Tensor, Tensor]>, prefix = ""): Record<string, Tensor> =>
  Object.fromEntries(Object.entries(network.params).map(([name, d]) => [name, input(`${prefix}${name}`, d.shape)]))

/** Parameters as views of one flat input vector named `name` (e.g. "ema"). */
export const flatParamInputs = (network: Layer<[Tensor, Tensor]>, name: StateName): Record<string, Tensor> => {
  const layout = paramLayout(network.params)
  return unflatten(input(name, [layout.size]), layout)
}

/** The network as the DSL's drift model, reading parameters `params`. */
export const driftModel = (network: Layer<[Tensor, Tensor]>, params: Record<string, Tensor>, parameterisation: Parameterisation): DriftModel => {
  const f = (x: Tensor, t: Tensor) => network.apply(params, x, t)
  return parameterisation === "a" ? { a: f } : { score: f }
}

/** The train step as a traceable function of no explicit inputs: everything is a named input node. */
export const trainStep = (spec: TrainSpec) => (): Record<string, Tensor> => {
  const layout = paramLayout(spec.network.params)
  const [flatParams, m, v, ema] = stateNames.map((name) => input(name, [layout.size])) as [Tensor, Tensor, Tensor, Tensor]
  const params = unflatten(flatParams, layout)
  const lr = input("lr", [])
  const step = input("step", [])
  const x = spec.data.kind === "device" ? spec.data.sample(spec.batch) : spec.data.transform(input("x", [spec.batch, ...spec.sampleShape])).x
  const model = driftModel(spec.network, params, spec.parameterisation)
  const perSample = spec.objective.kind === "dsm" ? dsm(spec.sde, model, x, spec.objective.options) : elbo(spec.sde, model, x, spec.objective.options).neg()
  const loss = perSample.mean()
  const grads = grad(loss, layout.names.map((n) => params[n]!))
  const flatGrad = flatten(Object.fromEntries(layout.names.map((n, i) => [n, grads[i]!])), layout)
  // The optimizer sees one tensor: its update, moments and EMA are one kernel over all parameters.
  const clipped = clipByGlobalNorm({ all: flatGrad }, spec.gradClip)
  const updated = adamStep({ all: flatParams }, clipped.grads, { all: m }, { all: v }, { lr: warmupLr(lr, step, spec.warmup), step })
  const averaged = emaUpdate({ all: ema }, updated.params, spec.emaDecay)
  return { loss, gradNorm: clipped.norm, params: updated.params.all!, m: updated.m.all!, v: updated.v.all!, ema: averaged.all! }
}

/** Per-sample bits/dim of a host batch through the ELBO, with parameters read from the flat `ema` input. */
export const evalBitsPerDim = (spec: TrainSpec, options: ElboOptions) => (): Record<string, Tensor> => {
  if (spec.data.kind !== "host") throw new Error("bits/dim evaluation needs host data with a transform")
  const params = flatParamInputs(spec.network, "ema")
  const { x, logDet } = spec.data.transform(input("x", [spec.batch, ...spec.sampleShape]))
  const model = driftModel(spec.network, params, spec.parameterisation)
  const dims = spec.sampleShape.reduce((a, b) => a * b, 1)
  return { bpd: bitsPerDim(elbo(spec.sde, model, x, options), dims, logDet) }
}
