/** A fully connected layer in PyTorch's `nn.Linear` layout: weight [out, in], bias [out]. */
import type { Tensor } from "../ir/tensor.ts"
import { referenceInit, zerosInit, type Init } from "./init.ts"
import { param, qualify, type Layer } from "./module.ts"

/** Initialisers of a dense layer's weight and bias. */
export interface DenseOptions {
  /** Default: the reference's variance scaling with scale 1. */
  readonly weightInit?: Init
  /** Default: zeros. */
  readonly biasInit?: Init
}

/** y = x Wᵀ + b for x [..., in] → [..., out]; parameters `${prefix}.weight`, `${prefix}.bias`. */
export const dense = (prefix: string, inFeatures: number, outFeatures: number, options: DenseOptions = {}): Layer<[Tensor]> => {
  const weight = qualify(prefix, "weight")
  const bias = qualify(prefix, "bias")
  return {
    params: {
      [weight]: { shape: [outFeatures, inFeatures], init: options.weightInit ?? referenceInit(1) },
      [bias]: { shape: [outFeatures], init: options.biasInit ?? zerosInit },
    },
    apply: (params, x) => x.matmul(param(params, weight, [outFeatures, inFeatures]).transpose()).add(param(params, bias, [outFeatures])),
  }
}
