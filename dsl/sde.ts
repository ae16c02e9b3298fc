/**
 * SDEs as values. `linearSde({ f, g, T })` describes dx = f(t)·x dt + g(t) dW and derives, symbolically,
 * everything the objectives and samplers need: mean weight m(t), variance v(t), the prior, and the
 * drift's divergence. f and g are time expressions, so a diffusion that depends on x is a type error.
 */
import { linearMarginals, type LinearMarginals, type TimeExpr, type TimeLike, constant, evaluate, show } from "./time/index.ts"
import { timeToTensor } from "./lower-time.ts"
import { normal, type Tensor } from "../src/ir/tensor.ts"
import { checkKeys, invalid } from "./errors.ts"

export interface LinearSde {
  readonly kind: "linear"
  readonly name: string
  /** Drift coefficient: f(x, t) = f(t)·x. */
  readonly f: TimeExpr
  /** Diffusion coefficient g(t). */
  readonly g: TimeExpr
  /** Time horizon. */
  readonly T: number
  /** Derived marginal x_t | x_0 ~ N(m(t)·x_0, v(t)·I). */
  readonly marginals: LinearMarginals
  /** Variance of the Gaussian prior at T: v(T) + m(T)² (exact for data of unit variance). */
  readonly priorVariance: number
}

export interface LinearSdeSpec {
  readonly name?: string
  readonly f: TimeLike
  readonly g: TimeLike
  readonly T?: number
  /** Allow Gauss–Legendre tables where no closed form exists (default true). */
  readonly quadrature?: boolean
}

const lift = (x: TimeLike): TimeExpr => (typeof x === "number" ? constant(x) : x)

/** Returns T when it is a usable horizon (finite, > 0); throws InvalidOption "T" otherwise. */
export const checkHorizon = (T: number): number => {
  if (!(Number.isFinite(T) && T > 0)) throw invalid("T", T, "the horizon must be finite and > 0")
  return T
}

/** dx = f(t)·x dt + g(t) dW on [0, T], with its marginals derived. */
export const linearSde = (spec: LinearSdeSpec): LinearSde => {
  checkKeys<LinearSdeSpec>("linearSde", spec, { name: true, f: true, g: true, T: true, quadrature: true })
  const T = checkHorizon(spec.T ?? 1)
  const [f, g] = [lift(spec.f), lift(spec.g)]
  const marginals = linearMarginals({ f, g, T, quadrature: spec.quadrature })
  const priorVariance = evaluate(marginals.variance, T) + evaluate(marginals.meanWeight, T) ** 2
  return { kind: "linear", name: spec.name ?? `linear(f = ${show(f)}, g = ${show(g)})`, f, g, T, marginals, priorVariance }
}

/**
 * A time coefficient evaluated at `t` and shaped to broadcast against `x`: t is a scalar (one time for
 * the batch) or has one entry per sample (the leading axis of x).
 */
export const coefficient = (e: TimeExpr, t: Tensor, x: Tensor): Tensor => {
  const c = timeToTensor(e, t)
  return t.rank === 0 ? c : c.reshape([...t.shape, ...new Array<number>(x.rank - t.rank).fill(1)])
}

/** f(x, t) = f(t)·x. */
export const drift = (sde: LinearSde, x: Tensor, t: Tensor): Tensor => coefficient(sde.f, t, x).mul(x)

/** g(t), shaped to broadcast against x. */
export const diffusion = (sde: LinearSde, x: Tensor, t: Tensor): Tensor => coefficient(sde.g, t, x)

/** ∇ₓ·f(x, t) = f(t)·D per sample [N] (D = elements per sample): known exactly, never probed. */
export const driftDivergence = (sde: LinearSde, x: Tensor, t: Tensor): Tensor => {
  const perSample = x.size / x.shape[0]!
  return timeToTensor(sde.f, t).mul(perSample).broadcastTo([x.shape[0]!])
}

/** x_t = m(t)·x₀ + √v(t)·z: a draw from the perturbation kernel given the noise z. */
export const perturb = (sde: LinearSde, x0: Tensor, t: Tensor, z: Tensor): Tensor =>
  coefficient(sde.marginals.meanWeight, t, x0).mul(x0).add(coefficient(sde.marginals.std, t, x0).mul(z))

/** A sample of the prior N(0, priorVariance·I). */
export const priorSample = (sde: LinearSde, shape: readonly number[]): Tensor => normal(shape).mul(Math.sqrt(sde.priorVariance))

/** log N(x; 0, priorVariance·I), summed over all but the leading (sample) axis → [N]. */
export const priorLogDensity = (sde: LinearSde, x: Tensor): Tensor => {
  const axes = Array.from({ length: x.rank - 1 }, (_, i) => i + 1)
  const perSample = x.size / x.shape[0]!
  const quadratic = x.square().sum(axes).mul(-0.5 / sde.priorVariance)
  return quadratic.sub(0.5 * perSample * Math.log(2 * Math.PI * sde.priorVariance))
}
