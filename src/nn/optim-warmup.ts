/**
 * Linear learning-rate warm-up: lr(step) = lr · min(1, step / warmup), with `step` the 1-based count
 * of the update about to run (so the first update uses lr / warmup, and step ≥ warmup the full lr).
 */
import { programError } from "../ir/errors.ts"
import type { Tensor, TensorLike } from "../ir/tensor.ts"
import { asTensor } from "./optim.ts"

const checkWarmup = (warmup: number): void => {
  if (!(Number.isFinite(warmup) && warmup >= 0)) throw programError("warmup", `warm-up length must be a finite number ≥ 0, got ${warmup}`)
}

/** The warmed-up learning rate as a graph value (shape []), from a scalar step input. */
export const warmupLr = (lr: TensorLike, step: TensorLike, warmup: number): Tensor => {
  checkWarmup(warmup)
  return warmup === 0 ? asTensor(lr) : asTensor(step).div(warmup).minimum(1).mul(lr)
}

/** The same schedule on the host (float64), e.g. for logging or for feeding `lr` as a uniform. */
export const warmupLrAt = (lr: number, step: number, warmup: number): number => {
  checkWarmup(warmup)
  return warmup === 0 ? lr : lr * Math.min(1, step / warmup)
}
