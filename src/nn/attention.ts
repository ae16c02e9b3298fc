/** The DDPM/SAGAN spatial self-attention block with a residual connection. */
import type { Tensor } from "../ir/tensor.ts"
import { conv2dLayer } from "./conv.ts"
import { groupNorm, type GroupNormOptions } from "./group-norm.ts"
import { mergeParams, qualify, type Layer } from "./module.ts"

/**
 * x [N, C, H, W] → x + proj_out(attention(norm(x))): queries, keys and values are 1×1 convs of the
 * normalised input, every pixel attends over all H·W pixels with weights softmax(qᵀk / √C), and the
 * projection starts near zero (scale 1e-10) so the block begins as the identity.
 * Parameters in the reference's order: attn_q, attn_k, attn_v, proj_out, norm.
 */
export const selfAttention = (prefix: string, channels: number, norm: GroupNormOptions = {}): Layer<[Tensor]> => {
  const onePixel = { kernel: 1, padding: 0 }
  const query = conv2dLayer(qualify(prefix, "attn_q"), channels, channels, onePixel)
  const key = conv2dLayer(qualify(prefix, "attn_k"), channels, channels, onePixel)
  const value = conv2dLayer(qualify(prefix, "attn_v"), channels, channels, onePixel)
  const projection = conv2dLayer(qualify(prefix, "proj_out"), channels, channels, { ...onePixel, initScale: 0 })
  const normalise = groupNorm(qualify(prefix, "norm"), channels, norm)
  return {
    params: mergeParams(query.params, key.params, value.params, projection.params, normalise.params),
    apply: (params, x) => {
      const [n, c, h, w] = x.shape as [number, number, number, number]
      const pixels = [n, c, h * w]
      const normed = normalise.apply(params, x)
      const q = query.apply(params, normed).reshape(pixels)
      const k = key.apply(params, normed).reshape(pixels)
      const v = value.apply(params, normed).reshape(pixels)
      // weights[b, i, j]: how much pixel i attends to pixel j; rows sum to 1.
      const weights = q.transpose().matmul(k).mul(c ** -0.5).softmax(-1)
      const attended = v.matmul(weights.transpose()).reshape([n, c, h, w])
      return x.add(projection.apply(params, attended))
    },
  }
}
