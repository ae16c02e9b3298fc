/**
 * Image transforms on the device, inside the training program: uniform dequantisation of 8-bit pixels,
 * random horizontal flips, and the logit transform y = logit(α + (1 − 2α)·u) (α = 0.05) with its
 * log-determinant, so bits/dim are those of the discrete data. Both draws take named salt streams, so
 * no other program's noise (a Hutchinson probe run at the same seed) reuses their keys.
 */
import { rademacher, uniform, where, type Tensor } from "../ir/tensor.ts"

export const LOGIT_ALPHA = 0.05

/** raw pixels [N, C, H, W] in 0…255 → logit-space x and the per-sample log|det ∂x/∂u| [N]. */
export const dequantizeLogit = (raw: Tensor, options: { alpha?: number; flip?: boolean } = {}): { x: Tensor; logDet: Tensor } => {
  const alpha = options.alpha ?? LOGIT_ALPHA
  let u = raw.add(uniform(raw.shape, { stream: "dequantise" })).div(256)
  if (options.flip ?? true) {
    const n = raw.shape[0]!
    const flipMe = rademacher([n], { stream: "flip" }).reshape([n, 1, 1, 1]).gt(0)
    u = where(flipMe, u.flip(3), u)
  }
  const s = u.mul(1 - 2 * alpha).add(alpha)
  const logS = s.log()
  const log1mS = s.neg().log1p()
  const x = logS.sub(log1mS)
  const axes = [1, 2, 3]
  const logDet = logS.add(log1mS).neg().add(Math.log(1 - 2 * alpha)).sum(axes)
  return { x, logDet }
}

/** Inverse of the logit transform, clipped to [0, 1] (for writing samples). */
export const logitToUnit = (y: ArrayLike<number>, alpha = LOGIT_ALPHA): Float32Array =>
  Float32Array.from(y, (v) => Math.min(1, Math.max(0, (1 / (1 + Math.exp(-v)) - alpha) / (1 - 2 * alpha))))
