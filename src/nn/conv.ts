/** A 2-D convolution layer in PyTorch's `nn.Conv2d` layout: weight [out, in, k, k], bias [out]. */
import { conv2d, type Tensor } from "../ir/tensor.ts"
import { referenceInit, zerosInit } from "./init.ts"
import { param, qualify, type Layer } from "./module.ts"

/** Kernel size, stride, padding and init scale of a conv layer. */
export interface ConvOptions {
  /** Square kernel size (default 3). */
  readonly kernel?: number
  readonly stride?: number
  /** Zero padding on every side (default (kernel − 1) / 2: "same" size at stride 1). */
  readonly padding?: number
  /** Variance-scaling scale of the weight (default 1; 0 means the reference's 1e-10). */
  readonly initScale?: number
}

/** x [N, in, H, W] → [N, out, H', W']; parameters `${prefix}.weight`, `${prefix}.bias`. */
export const conv2dLayer = (prefix: string, inChannels: number, outChannels: number, options: ConvOptions = {}): Layer<[Tensor]> => {
  const k = options.kernel ?? 3
  const stride = options.stride ?? 1
  const padding = options.padding ?? Math.floor((k - 1) / 2)
  const weight = qualify(prefix, "weight")
  const bias = qualify(prefix, "bias")
  const weightShape = [outChannels, inChannels, k, k]
  return {
    params: {
      [weight]: { shape: weightShape, init: referenceInit(options.initScale ?? 1) },
      [bias]: { shape: [outChannels], init: zerosInit },
    },
    apply: (params, x) =>
      conv2d(x, param(params, weight, weightShape), { stride, padding }).add(param(params, bias, [outChannels]).reshape([1, outChannels, 1, 1])),
  }
}
