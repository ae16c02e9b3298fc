/** The DDPM residual block conditioned on a timestep embedding. */
import type { Tensor } from "../ir/tensor.ts"
import { conv2dLayer } from "./conv.ts"
import { dense } from "./dense.ts"
import { groupNorm, type GroupNormOptions } from "./group-norm.ts"
import { mergeParams, qualify, type Layer } from "./module.ts"

/**
 * (x [N, in, H, W], temb [N, tembCh]) → [N, out, H, W]:
 * h = conv1(silu(norm1 x)) + temb_proj(silu temb); h = conv2(silu(norm2 h)); return shortcut(x) + h.
 * conv2 starts near zero (scale 1e-10) so the block begins as its shortcut; the shortcut is a 1×1 conv
 * when the channel count changes, the identity otherwise. Dropout (before conv2 in the reference) is
 * not applied: only dropout 0 is supported (see `unet`).
 * Parameters in the reference's order: temb_proj, norm1, conv1, norm2, conv2, shortcut.
 */
export const residualBlock = (
  prefix: string,
  inChannels: number,
  tembChannels: number,
  outChannels: number,
  norm: GroupNormOptions = {},
): Layer<[Tensor, Tensor]> => {
  const tembProj = dense(qualify(prefix, "temb_proj"), tembChannels, outChannels)
  const norm1 = groupNorm(qualify(prefix, "norm1"), inChannels, norm)
  const conv1 = conv2dLayer(qualify(prefix, "conv1"), inChannels, outChannels)
  const norm2 = groupNorm(qualify(prefix, "norm2"), outChannels, norm)
  const conv2 = conv2dLayer(qualify(prefix, "conv2"), outChannels, outChannels, { initScale: 0 })
  const shortcut = inChannels === outChannels ? undefined : conv2dLayer(qualify(prefix, "shortcut"), inChannels, outChannels, { kernel: 1, padding: 0 })
  return {
    params: mergeParams(tembProj.params, norm1.params, conv1.params, norm2.params, conv2.params, shortcut?.params ?? {}),
    apply: (params, x, temb) => {
      const conditioning = tembProj.apply(params, temb.silu()).reshape([-1, outChannels, 1, 1])
      const h1 = conv1.apply(params, norm1.apply(params, x).silu()).add(conditioning)
      const h2 = conv2.apply(params, norm2.apply(params, h1).silu())
      return (shortcut ? shortcut.apply(params, x) : x).add(h2)
    },
  }
}
