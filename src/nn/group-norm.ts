/** Group normalisation (Wu & He 2018) with a per-channel affine map, as PyTorch's `nn.GroupNorm`. */
import { programError } from "../ir/errors.ts"
import type { Tensor } from "../ir/tensor.ts"
import { onesInit, zerosInit } from "./init.ts"
import { param, qualify, type Layer } from "./module.ts"

/** Group count and epsilon of a group norm. */
export interface GroupNormOptions {
  /** Number of groups (default 32, as DDPM). */
  readonly groups?: number
  /** Added to the variance (default 1e-6, as DDPM). */
  readonly eps?: number
}

/**
 * x [N, C, ...] normalised per (sample, group of C/G channels) with the biased variance, then
 * scaled by weight [C] and shifted by bias [C]. Statistics come from a [N, G, C/G·H·W] view, so each is
 * one reduction kernel and the normalisation fuses into whatever consumes it.
 */
export const groupNorm = (prefix: string, channels: number, options: GroupNormOptions = {}): Layer<[Tensor]> => {
  const groups = options.groups ?? 32
  const eps = options.eps ?? 1e-6
  if (channels % groups !== 0) throw programError("groupNorm", `${channels} channels do not split into ${groups} groups`)
  const weight = qualify(prefix, "weight")
  const bias = qualify(prefix, "bias")
  return {
    params: { [weight]: { shape: [channels], init: onesInit }, [bias]: { shape: [channels], init: zerosInit } },
    apply: (params, x) => {
      if (x.rank < 2 || x.shape[1] !== channels)
        throw programError("groupNorm", `${prefix}: expected [N, ${channels}, ...], got [${x.shape.join(", ")}]`)
      const grouped = x.reshape([x.shape[0]!, groups, -1])
      const mean = grouped.mean(2, true)
      const centred = grouped.sub(mean)
      const variance = centred.square().mean(2, true)
      const normalised = centred.mul(variance.add(eps).rsqrt()).reshape(x.shape)
      const affine = [1, channels, ...new Array<number>(x.rank - 2).fill(1)]
      return normalised.mul(param(params, weight, [channels]).reshape(affine)).add(param(params, bias, [channels]).reshape(affine))
    },
  }
}
