/** Resolution changes of the UNet: nearest-neighbour ×2 upsampling and stride-2 downsampling. */
import { programError } from "../ir/errors.ts"
import type { Tensor } from "../ir/tensor.ts"
import { conv2dLayer } from "./conv.ts"
import { qualify, type Layer } from "./module.ts"

/** x [N, C, H, W] → [N, C, 2H, 2W], each pixel repeated 2×2; a view (reshape/expand/reshape), no copy. */
export const upsampleNearest2x = (x: Tensor): Tensor => {
  const [n, c, h, w] = x.shape as [number, number, number, number]
  return x.reshape([n, c, h, 1, w, 1]).broadcastTo([n, c, h, 2, w, 2]).reshape([n, c, 2 * h, 2 * w])
}

/** 2×2 average pooling with stride 2: x [N, C, H, W] → [N, C, ⌊H/2⌋, ⌊W/2⌋] (an odd last row/column is dropped, as PyTorch). */
export const averagePool2x = (x: Tensor): Tensor => {
  const [n, c, h, w] = x.shape as [number, number, number, number]
  const [ho, wo] = [Math.floor(h / 2), Math.floor(w / 2)]
  if (ho === 0 || wo === 0) throw programError("averagePool2x", `input [${x.shape.join(", ")}] is smaller than the 2×2 window`)
  return x.slice([0, 0, 0, 0], [n, c, 2 * ho, 2 * wo]).reshape([n, c, ho, 2, wo, 2]).mean([3, 5])
}

/**
 * sdeflow-light's `upsample`: nearest ×2, then (with conv) a 3×3 conv named `${prefix}.up_conv`
 * (the nearest step is the parameterless `up_nn` of its `nn.Sequential`).
 */
export const upsample = (prefix: string, channels: number, withConv: boolean): Layer<[Tensor]> => {
  if (!withConv) return { params: {}, apply: (_, x) => upsampleNearest2x(x) }
  const conv = conv2dLayer(qualify(prefix, "up_conv"), channels, channels)
  return { params: conv.params, apply: (params, x) => conv.apply(params, upsampleNearest2x(x)) }
}

/**
 * sdeflow-light's `downsample`: a 3×3 conv with stride 2 and symmetric padding 1 (its `conv2d` helper's
 * default), named `${prefix}` itself — not DDPM's TensorFlow pad (0,1,0,1) + padding 0, which samples
 * windows shifted by one pixel. Without conv, 2×2 average pooling.
 */
export const downsample = (prefix: string, channels: number, withConv: boolean): Layer<[Tensor]> =>
  withConv ? conv2dLayer(prefix, channels, channels, { stride: 2, padding: 1 }) : { params: {}, apply: (_, x) => averagePool2x(x) }
