/**
 * Pure host-side transforms between uint8 pixels and the continuous space a diffusion model sees.
 * All images are CHW; a batch is images laid end to end.
 *
 * Likelihoods: with x = (pixels + u)/256 the discrete log-likelihood is bounded by E_u[log p(x)] − D·log 256,
 * and with y = logit(α + (1−2α)x), log p(x) = log p(y) + logDetJacobian(x). `bitsPerDim` does the last step.
 */
import { CHANNELS, IMAGE_BYTES, IMAGE_SIDE } from "./cifar-dataset.ts"

/** A source of uniform floats in [0, 1). */
export type Uniform = () => number

/** Channels × height × width of one image. */
export interface ImageShape {
  readonly channels: number
  readonly height: number
  readonly width: number
}

/** CIFAR-10's 3×32×32. */
export const CIFAR_SHAPE: ImageShape = { channels: CHANNELS, height: IMAGE_SIDE, width: IMAGE_SIDE }

/** The α that keeps logit's argument inside [α, 1−α] (RealNVP's choice for CIFAR-10). */
export const LOGIT_ALPHA = 0.05

/** Pixels → the centre of their bin, (x + ½)/256 ∈ (0, 1): the mean of `dequantize` and exact for `quantize`. */
export const toUnitInterval = (pixels: Uint8Array): Float32Array => {
  const out = new Float32Array(pixels.length)
  for (let i = 0; i < pixels.length; i++) out[i] = (pixels[i]! + 0.5) / 256
  return out
}

/** Uniform dequantisation (x + u)/256, u ~ U[0,1) drawn per element from `uniform`: a density on [0,1)^D. */
export const dequantize = (pixels: Uint8Array, uniform: Uniform): Float32Array => {
  const out = new Float32Array(pixels.length)
  for (let i = 0; i < pixels.length; i++) out[i] = (pixels[i]! + uniform()) / 256
  return out
}

/** Values in [0, 1] → the pixel whose bin holds them, ⌊256x⌋ clamped to 0..255 (for writing samples). */
export const quantize = (x: ArrayLike<number>): Uint8Array => {
  const out = new Uint8Array(x.length)
  for (let i = 0; i < x.length; i++) out[i] = Math.min(255, Math.max(0, Math.floor(x[i]! * 256)))
  return out
}

/** Mirror image i left↔right where `flips[i]` is truthy; returns a new batch of the same type. */
export const randomHorizontalFlip = <T extends Uint8Array | Float32Array | Float64Array>(
  images: T,
  flips: ArrayLike<boolean | number>,
  shape: ImageShape = CIFAR_SHAPE,
): T => {
  const { channels, height, width } = shape
  const perImage = channels * height * width
  if (images.length !== flips.length * perImage) {
    throw new RangeError(`${images.length} values are not ${flips.length} images of ${channels}×${height}×${width}`)
  }
  const out = images.slice() as T
  for (let image = 0; image < flips.length; image++) {
    if (!flips[image]) continue
    // Every row of every channel plane is reversed in place.
    for (let row = image * channels * height; row < (image + 1) * channels * height; row++) {
      const start = row * width
      for (let col = 0; col < width; col++) out[start + col] = images[start + width - 1 - col]!
    }
  }
  return out
}

/** y = logit(s), s = α + (1−2α)x, with per-image log|det ∂y/∂x| = Σ_d log(1−2α) − log s_d − log(1−s_d). */
export const logitTransform = <T extends Float32Array | Float64Array>(
  x: T,
  dimsPerImage: number = IMAGE_BYTES,
  alpha: number = LOGIT_ALPHA,
): { readonly y: T; readonly logDet: Float64Array } => {
  if (x.length % dimsPerImage !== 0) throw new RangeError(`${x.length} values are not whole images of ${dimsPerImage}`)
  const y = x.slice() as T
  const logDet = new Float64Array(x.length / dimsPerImage)
  const scale = 1 - 2 * alpha
  const logScale = Math.log(scale)
  for (let i = 0; i < x.length; i++) {
    const s = alpha + scale * x[i]!
    const logS = Math.log(s)
    // log1p keeps 1−s accurate when s is near 0 (α is small).
    const log1mS = Math.log1p(-s)
    y[i] = logS - log1mS
    logDet[Math.floor(i / dimsPerImage)]! += logScale - logS - log1mS
  }
  return { y, logDet }
}

/** The inverse of `logitTransform`: x = (σ(y) − α)/(1−2α); not clamped, so round trips are exact. */
export const logitInverse = <T extends Float32Array | Float64Array>(y: T, alpha: number = LOGIT_ALPHA): T => {
  const x = y.slice() as T
  for (let i = 0; i < y.length; i++) {
    const v = y[i]!
    // The two branches of σ avoid overflow of exp for large |y|.
    const s = v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v))
    x[i] = (s - alpha) / (1 - 2 * alpha)
  }
  return x
}

/** Bits per dimension of 8-bit data from the NLL (nats) of its dequantised image in [0,1)^D. */
export const bitsPerDim = (nllUnitIntervalNats: number, dims: number): number =>
  nllUnitIntervalNats / (dims * Math.LN2) + 8
