/**
 * Sampling the diffusion time: uniform on [ε, T], or importance-sampled from q(t) ∝ g(t)²/v(t) (flat
 * below ε) derived for any linear SDE by the time-expression machinery. Both draw t inside the kernel
 * from a uniform random number, and report the weight 1/q(t) that keeps estimates unbiased.
 */
import { DEFAULT_END_TIME } from "./reverse.ts"
import { importanceDensity, type ImportanceDensity } from "./time/index.ts"
import { full, uniform, type Tensor } from "../src/ir/tensor.ts"
import { timeToTensor } from "./lower-time.ts"
import { invalid } from "./errors.ts"
import type { LinearSde } from "./sde.ts"

export type TimeSampling = { readonly kind: "uniform"; readonly eps: number } | { readonly kind: "importance"; readonly eps: number }

export const uniformTime = (eps = 1e-5): TimeSampling => ({ kind: "uniform", eps })
export const importanceTime = (eps = DEFAULT_END_TIME): TimeSampling => ({ kind: "importance", eps })

const densities = new WeakMap<LinearSde, Map<number, ImportanceDensity>>()

/** q(t) ∝ g²/v for `sde`, derived once per (sde, ε). */
export const importanceSampler = (sde: LinearSde, eps: number): ImportanceDensity => {
  const cache = densities.get(sde) ?? new Map<number, ImportanceDensity>()
  densities.set(sde, cache)
  let q = cache.get(eps)
  if (!q) {
    q = importanceDensity({ g: sde.g, variance: sde.marginals.variance, eps, T: sde.T })
    cache.set(eps, q)
  }
  return q
}

/** One time per sample ([n]) and the importance weight 1/q(t) of each. */
export const sampleTimes = (sde: LinearSde, sampling: TimeSampling, n: number): { t: Tensor; weight: Tensor } => {
  if (!(sampling.eps > 0 && sampling.eps < sde.T)) throw invalid("eps", sampling.eps, `the time cut-off must lie in (0, T = ${sde.T})`)
  const u = uniform([n])
  if (sampling.kind === "uniform") {
    const span = sde.T - sampling.eps
    return { t: u.mul(span).add(sampling.eps), weight: full([n], span) }
  }
  const q = importanceSampler(sde, sampling.eps)
  const t = timeToTensor(q.inverseCdf, u)
  return { t, weight: timeToTensor(q.density, t).reciprocal() }
}
