/**
 * Global-norm gradient clipping as a graph function (PyTorch's `clip_grad_norm_` with the 2-norm):
 * one norm over all gradients together, computed in-program, then every gradient scaled by
 * min(1, maxNorm / (norm + 1e-6)).
 */
import { programError } from "../ir/errors.ts"
import { sizeOf } from "../ir/shape.ts"
import type { Tensor, TensorLike } from "../ir/tensor.ts"
import { asTensor, type ParamTensors } from "./optim.ts"

/** PyTorch's guard against dividing by a zero norm; also keeps the scale just below 1 at norm = maxNorm. */
const normGuard = 1e-6

/** Elements one thread sums in the first pass of a long vector's sum of squares. */
const chunk = 1024

/**
 * Σ g² of one tensor. A reduction to a scalar is one thread's loop; over a flat vector of every
 * parameter (millions of elements) that would serialise the device, so long tensors are summed in two
 * passes: ⌈n/1024⌉ threads over zero-padded chunks, then one over their partial sums.
 */
const sumOfSquares = (g: Tensor): Tensor => {
  const n = sizeOf(g.shape)
  if (n <= 4 * chunk) return g.square().sum()
  const rows = Math.ceil(n / chunk)
  return g.reshape([n]).pad([[0, rows * chunk - n]]).reshape([rows, chunk]).square().sum(1).sum()
}

/** √(Σ over all tensors of Σ g²): the 2-norm of all gradients flattened into one vector (shape []). */
export const globalNorm = (grads: ParamTensors): Tensor => {
  const squares = Object.values(grads).map(sumOfSquares)
  if (squares.length === 0) throw programError("globalNorm", "needs at least one gradient")
  return squares.reduce((total, s) => total.add(s)).sqrt()
}

/** Clipped gradients and the norm before clipping (shape [], e.g. for logging). */
export interface ClippedGrads {
  readonly grads: Record<string, Tensor>
  readonly norm: Tensor
}

/**
 * Scales all gradients by one factor so their global norm is at most `maxNorm`; gradients already
 * within it are multiplied by exactly 1 (unchanged).
 */
export const clipByGlobalNorm = (grads: ParamTensors, maxNorm: TensorLike): ClippedGrads => {
  const norm = globalNorm(grads)
  const scale = asTensor(maxNorm).div(norm.add(normGuard)).minimum(1)
  return { grads: Object.fromEntries(Object.entries(grads).map(([name, g]) => [name, g.mul(scale)])), norm }
}
