/**
 * Adam as a graph function: new parameters and moments are lazy tensors of the old ones, so an update
 * compiles like any other program — every parameter's update fuses into elementwise kernels, the step
 * count and learning rate travel as scalar uniforms, and nothing recompiles from one step to the next.
 * Gradient clipping, EMA and the warm-up schedule live next door (`optim-clip.ts`, `optim-ema.ts`,
 * `optim-warmup.ts`) and compose with this by plain function application.
 */
import { programError } from "../ir/errors.ts"
import { sameShape } from "../ir/shape.ts"
import { constant, type Tensor, type TensorLike } from "../ir/tensor.ts"
import type { Params } from "./module.ts"

/** Tensors keyed by parameter name (params, grads, moments, EMA all share the keys): `Params` of `module.ts`. */
export type ParamTensors = Params

/** A host-side float32 tensor (row-major `data` of `shape`). */
export interface HostTensor {
  readonly shape: readonly number[]
  readonly data: Float32Array
}

/** Host tensors keyed by parameter name. */
export type HostParams = Readonly<Record<string, HostTensor>>

/** Adam hyper-parameters; defaults are PyTorch's `torch.optim.Adam` (no weight decay, no amsgrad). */
export interface AdamOptions {
  /** Learning rate (scalar; a uniform input keeps warm-up schedules free of recompilation). */
  readonly lr: TensorLike
  /** 1-based count of this update, for bias correction (scalar; usually a uniform input). */
  readonly step: TensorLike
  /** Hyper-parameters: a number becomes a float32 constant of the program, a scalar tensor (e.g. a
   *  uniform input) keeps the backend's precision — the float64 oracle then computes exactly in f64. */
  readonly beta1?: TensorLike
  readonly beta2?: TensorLike
  readonly eps?: TensorLike
}

/** The state after one Adam update: new parameters and first/second moments, by name. */
export interface AdamResult {
  readonly params: Record<string, Tensor>
  readonly m: Record<string, Tensor>
  readonly v: Record<string, Tensor>
}

export const adamDefaults = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 } as const

/** Throws a ProgramError naming every missing/extra name or mismatched shape of `other` against `params`. */
export const checkSameParams = (op: string, params: ParamTensors, others: Readonly<Record<string, ParamTensors>>): void => {
  const names = Object.keys(params)
  for (const [label, other] of Object.entries(others)) {
    const missing = names.filter((n) => !Object.hasOwn(other, n))
    const extra = Object.keys(other).filter((n) => !Object.hasOwn(params, n))
    if (missing.length > 0) throw programError(op, `${label} lacks ${missing.map((n) => `"${n}"`).join(", ")}`)
    if (extra.length > 0) throw programError(op, `${label} has names that are not parameters: ${extra.map((n) => `"${n}"`).join(", ")}`)
    for (const n of names)
      if (!sameShape(params[n]!.shape, other[n]!.shape))
        throw programError(op, `${label}["${n}"] has shape [${other[n]!.shape.join(", ")}], the parameter [${params[n]!.shape.join(", ")}]`)
  }
}

/** A number as a scalar constant; a tensor as itself. */
export const asTensor = (x: TensorLike): Tensor => (typeof x === "number" ? constant(x) : x)

/**
 * 1 − β^step, computed as −expm1(step·ln β). The direct form cancels catastrophically in float32 for β
 * near 1 (1 − 0.999f is off by 1.3e-5 relative at step 1); for a number β, ln β is taken in float64 at
 * trace time, so only its final rounding to float32 remains.
 */
const biasCorrection = (beta: TensorLike, step: TensorLike): Tensor =>
  (typeof beta === "number" ? constant(Math.log(beta)) : beta.log()).mul(step).expm1().neg()

/** 1 − x, folded in float64 when x is a number (1 − 0.9999 must not round 0.9999 to float32 first). */
export const complement = (x: TensorLike): TensorLike => (typeof x === "number" ? 1 - x : constant(1).sub(x))

/**
 * One Adam update (Kingma & Ba, in PyTorch's arrangement):
 *   m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²,  p ← p − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε).
 * Pure: returns new tensors; every name of `params` must appear, with its shape, in grads, m and v.
 */
export const adamStep = (params: ParamTensors, grads: ParamTensors, m: ParamTensors, v: ParamTensors, options: AdamOptions): AdamResult => {
  checkSameParams("adamStep", params, { grads, m, v })
  const beta1 = options.beta1 ?? adamDefaults.beta1
  const beta2 = options.beta2 ?? adamDefaults.beta2
  const eps = options.eps ?? adamDefaults.eps
  // Shape-[] values of uniforms: cheap enough that the scheduler recomputes them inside each kernel.
  const stepSize = asTensor(options.lr).div(biasCorrection(beta1, options.step))
  const secondMomentScale = biasCorrection(beta2, options.step).sqrt()
  const result: AdamResult = { params: {}, m: {}, v: {} }
  for (const name of Object.keys(params)) {
    const g = grads[name]!
    const m1 = m[name]!.mul(beta1).add(g.mul(complement(beta1)))
    const v1 = v[name]!.mul(beta2).add(g.square().mul(complement(beta2)))
    const denominator = v1.sqrt().div(secondMomentScale).add(eps)
    result.params[name] = params[name]!.sub(stepSize.mul(m1).div(denominator))
    result.m[name] = m1
    result.v[name] = v1
  }
  return result
}

/** Initial optimizer state on the host: zero moments and an EMA equal to the parameters (copied). */
export const optimizerState = (params: HostParams): { readonly m: HostParams; readonly v: HostParams; readonly ema: HostParams } => {
  const map = (f: (t: HostTensor) => Float32Array): HostParams =>
    Object.fromEntries(Object.entries(params).map(([name, t]) => [name, { shape: [...t.shape], data: f(t) }]))
  return {
    m: map((t) => new Float32Array(t.data.length)),
    v: map((t) => new Float32Array(t.data.length)),
    ema: map((t) => t.data.slice()),
  }
}
