/**
 * Test support: 2-D Gaussian data pushed through a linear SDE. Everything about it is known in closed
 * form — the marginal at t, the score (written with tensor ops, so it compiles like a network), the
 * exact log-density — and these are the oracles of the SDE DSL's specification tests.
 */
import { concat, type Tensor } from "../../src/ir/tensor.ts"
import { coefficient, type LinearSde } from "../../dsl/sde.ts"
import type { DriftModel } from "../../dsl/reverse.ts"
import { evaluate } from "../../dsl/time/index.ts"
import { seededWords } from "./seeded.ts"

/** A 2-D Gaussian N(mean, cov); cov = [[xx, xy], [xy, yy]]. */
export interface Gaussian2 {
  readonly mean: readonly [number, number]
  readonly cov: readonly [number, number, number]
}

/** x_t | data ~ N(m·μ₀, m²Σ₀ + v·I): the forward marginal at t (float64). */
export const marginalAt = (sde: LinearSde, data: Gaussian2, t: number): Gaussian2 => {
  const m = evaluate(sde.marginals.meanWeight, t)
  const v = evaluate(sde.marginals.variance, t)
  const [xx, xy, yy] = data.cov
  return { mean: [m * data.mean[0], m * data.mean[1]], cov: [m * m * xx + v, m * m * xy, m * m * yy + v] }
}

/**
 * The exact score of the marginal, −C⁻¹(x − m·μ₀) with C = m²Σ₀ + v·I, as tensor ops on x [N, 2]; t is a
 * scalar or one time per sample. `scale` multiplies it (1: exact; ≠ 1: a deliberately wrong model).
 */
export const gaussianScore = (sde: LinearSde, data: Gaussian2, scale = 1): DriftModel => ({
  score: (x: Tensor, t: Tensor) => {
    const m = coefficient(sde.marginals.meanWeight, t, x)
    const v = coefficient(sde.marginals.variance, t, x)
    const m2 = m.square()
    const [xx, xy, yy] = data.cov
    const a = m2.mul(xx).add(v)
    const b = m2.mul(xy)
    const d = m2.mul(yy).add(v)
    const det = a.mul(d).sub(b.square())
    const n = x.shape[0]!
    const y0 = x.slice([0, 0], [n, 1]).sub(m.mul(data.mean[0]))
    const y1 = x.slice([0, 1], [n, 2]).sub(m.mul(data.mean[1]))
    // C⁻¹ = [[d, −b], [−b, a]] / det.
    const s0 = b.mul(y1).sub(d.mul(y0)).div(det)
    const s1 = b.mul(y0).sub(a.mul(y1)).div(det)
    return concat([s0, s1], 1).mul(scale)
  },
})

/** Deterministic uniforms in (0, 1) (mulberry32), so statistical tests replay exactly. */
export const uniforms = (n: number, seed: number): Float64Array => {
  const next = seededWords(seed)
  return Float64Array.from({ length: n }, () => (next() + 0.5) / 4294967296)
}

/** n draws of `g` as a row-major [n, 2] array (Box–Muller on seeded uniforms, Cholesky of the covariance). */
export const sampleGaussian = (g: Gaussian2, n: number, seed: number): Float32Array => {
  const u = uniforms(2 * n, seed)
  const [xx, xy, yy] = g.cov
  const l00 = Math.sqrt(xx)
  const l10 = xy / l00
  const l11 = Math.sqrt(yy - l10 * l10)
  const out = new Float32Array(2 * n)
  for (let i = 0; i < n; i++) {
    const r = Math.sqrt(-2 * Math.log(u[2 * i]!))
    const z0 = r * Math.cos(2 * Math.PI * u[2 * i + 1]!)
    const z1 = r * Math.sin(2 * Math.PI * u[2 * i + 1]!)
    out[2 * i] = g.mean[0] + l00 * z0
    out[2 * i + 1] = g.mean[1] + l10 * z0 + l11 * z1
  }
  return out
}

/** log N(x; g) in nats for each row of a [n, 2] array. */
export const logDensity = (g: Gaussian2, xs: ArrayLike<number>): Float64Array => {
  const [xx, xy, yy] = g.cov
  const det = xx * yy - xy * xy
  const n = xs.length / 2
  return Float64Array.from({ length: n }, (_, i) => {
    const [d0, d1] = [xs[2 * i]! - g.mean[0], xs[2 * i + 1]! - g.mean[1]]
    const quad = (yy * d0 * d0 - 2 * xy * d0 * d1 + xx * d1 * d1) / det
    return -Math.log(2 * Math.PI) - 0.5 * Math.log(det) - 0.5 * quad
  })
}

/** Sample mean and its standard error. */
export const meanAndError = (values: ArrayLike<number>): { mean: number; stderr: number; variance: number } => {
  const n = values.length
  let sum = 0
  for (let i = 0; i < n; i++) sum += values[i]!
  const mean = sum / n
  let sq = 0
  for (let i = 0; i < n; i++) sq += (values[i]! - mean) ** 2
  const variance = sq / (n - 1)
  return { mean, stderr: Math.sqrt(variance / n), variance }
}

/** The five moments of samples [n, 2] (means, then xx, xy, yy covariances), each as a per-sample statistic. */
const momentStatistics = (xs: ArrayLike<number>, about: Gaussian2): Float64Array[] => {
  const n = xs.length / 2
  const columns = Array.from({ length: 5 }, () => new Float64Array(n))
  for (let i = 0; i < n; i++) {
    const [d0, d1] = [xs[2 * i]! - about.mean[0], xs[2 * i + 1]! - about.mean[1]]
    columns[0]![i] = xs[2 * i]!
    columns[1]![i] = xs[2 * i + 1]!
    columns[2]![i] = d0 * d0
    columns[3]![i] = d0 * d1
    columns[4]![i] = d1 * d1
  }
  return columns
}

/**
 * How many standard errors each sample moment is from `target`'s (mean₀, mean₁, Σxx, Σxy, Σyy). The
 * second moments are taken about the target mean, so each is a plain average with a plain standard error.
 */
export const momentZScores = (xs: ArrayLike<number>, target: Gaussian2): number[] => {
  const expected = [target.mean[0], target.mean[1], ...target.cov]
  return momentStatistics(xs, target).map((column, k) => {
    const { mean, stderr } = meanAndError(column)
    return (mean - expected[k]!) / stderr
  })
}

/** Kolmogorov–Smirnov statistic and its 1% critical value (shared with the time-expression tests). */
export { ksCritical } from "../dsl/time/numeric.ts"
import { ksStatistic as ks } from "../dsl/time/numeric.ts"
export const ksStatistic = (samples: ArrayLike<number>, cdf: (x: number) => number): number => ks(Float64Array.from(samples), cdf)

/** ∫_a^b f by composite Simpson on a geometric-then-uniform grid fine enough for the smooth integrands here. */
export const integrate = (f: (x: number) => number, a: number, b: number, panels = 4000): number => {
  // Split at a geometric mean so integrands that vary like 1/t near a small `a` are resolved.
  const simpson = (lo: number, hi: number, k: number, warp: boolean) => {
    const at = (s: number) => (warp ? lo * Math.pow(hi / lo, s) : lo + (hi - lo) * s)
    const weight = (s: number) => (warp ? at(s) * Math.log(hi / lo) : hi - lo)
    let sum = 0
    for (let i = 0; i <= 2 * k; i++) {
      const s = i / (2 * k)
      const c = i === 0 || i === 2 * k ? 1 : i % 2 === 1 ? 4 : 2
      sum += c * f(at(s)) * weight(s)
    }
    return sum / (6 * k)
  }
  if (a <= 0 || b / a < 10) return simpson(a, b, panels, false)
  const mid = Math.min(b, a * 100)
  return simpson(a, mid, panels, true) + (mid < b ? simpson(mid, b, panels, false) : 0)
}

/**
 * x ↦ E[ELBO | x] of `elbo` for the score `scale`·(exact score), in closed form up to 1-D quadratures over t:
 *   E log p_T(y_T) − ∫_from^T E[½‖a‖² + ∇·μ] dt,  with a = g·s, ∇·μ = g·∇·a − f·D, y | x ~ N(m·x, v·I).
 * `from` is ε for uniform time on [ε, T] and 0 for importance-sampled time (whose flat part covers [0, ε]).
 * E‖s‖² = m²·δᵀC⁻²δ + v·tr C⁻² (δ = x − μ₀) is quadratic in δ, so the t-integrals are done once.
 */
export const expectedElbo = (sde: LinearSde, data: Gaussian2, from: number, scale = 1): ((x: readonly [number, number]) => number) => {
  const D = 2
  const at = (t: number) => {
    const m = evaluate(sde.marginals.meanWeight, t)
    const v = evaluate(sde.marginals.variance, t)
    const [xx, xy, yy] = data.cov
    const [a, b, d] = [m * m * xx + v, m * m * xy, m * m * yy + v]
    const det = a * d - b * b
    // C⁻¹ = [[d, −b], [−b, a]]/det; C⁻² = C⁻¹·C⁻¹.
    const [i00, i01, i11] = [d / det, -b / det, a / det]
    const inverseSquare = [i00 * i00 + i01 * i01, i00 * i01 + i01 * i11, i01 * i01 + i11 * i11] as const
    return { m, v, g2: evaluate(sde.g, t) ** 2, f: evaluate(sde.f, t), traceInverse: i00 + i11, inverseSquare }
  }
  const kineticWeight = (k: 0 | 1 | 2) =>
    integrate((t) => {
      const c = at(t)
      return 0.5 * c.g2 * scale * scale * c.m * c.m * c.inverseSquare[k]
    }, from, sde.T)
  const [k00, k01, k11] = [kineticWeight(0), kineticWeight(1), kineticWeight(2)]
  const rest = integrate((t) => {
    const c = at(t)
    const kinetic = 0.5 * c.g2 * scale * scale * c.v * (c.inverseSquare[0] + c.inverseSquare[2])
    return kinetic - c.g2 * scale * c.traceInverse - c.f * D
  }, from, sde.T)
  const mT = evaluate(sde.marginals.meanWeight, sde.T)
  const vT = evaluate(sde.marginals.variance, sde.T)
  const P = sde.priorVariance
  return (x) => {
    const [d0, d1] = [x[0] - data.mean[0], x[1] - data.mean[1]]
    const prior = -0.5 * D * Math.log(2 * Math.PI * P) - (mT * mT * (x[0] ** 2 + x[1] ** 2) + D * vT) / (2 * P)
    return prior - (k00 * d0 * d0 + 2 * k01 * d0 * d1 + k11 * d1 * d1 + rest)
  }
}

/**
 * The probability-flow ODE's exact map from time `from` to `to` for Gaussian data. Every marginal
 * covariance C_t = m²Σ₀ + v·I shares Σ₀'s eigenvectors, and along eigenvector k the centred state scales
 * like √c_k(t), so x ↦ m(to)·μ₀ + (C_to·C_from⁻¹)^½·(x − m(from)·μ₀). Also returns log|det| of the map.
 */
export const flowMap = (sde: LinearSde, data: Gaussian2, from: number, to: number) => {
  const [xx, xy, yy] = data.cov
  const angle = 0.5 * Math.atan2(2 * xy, xx - yy)
  const [c, s] = [Math.cos(angle), Math.sin(angle)]
  // Eigenvalues along (c, s) and (−s, c).
  const lambda = [c * c * xx + 2 * c * s * xy + s * s * yy, s * s * xx - 2 * c * s * xy + c * c * yy]
  const at = (t: number) => ({ m: evaluate(sde.marginals.meanWeight, t), v: evaluate(sde.marginals.variance, t) })
  const [p, q] = [at(from), at(to)]
  const gain = lambda.map((l) => Math.sqrt((q.m * q.m * l + q.v) / (p.m * p.m * l + p.v)))
  return {
    logDet: Math.log(gain[0]! * gain[1]!),
    apply: (x: ArrayLike<number>): Float64Array => {
      const out = new Float64Array(x.length)
      for (let i = 0; i < x.length / 2; i++) {
        const [d0, d1] = [x[2 * i]! - p.m * data.mean[0], x[2 * i + 1]! - p.m * data.mean[1]]
        const [e0, e1] = [(c * d0 + s * d1) * gain[0]!, (-s * d0 + c * d1) * gain[1]!]
        out[2 * i] = q.m * data.mean[0] + c * e0 - s * e1
        out[2 * i + 1] = q.m * data.mean[1] + s * e0 + c * e1
      }
      return out
    },
  }
}

/**
 * The exact log-likelihood (nats) of the probability-flow model at `eps` for the SDE's prior
 * N(0, priorVariance·I) at T: log N(Φ(x); prior) + log|det Φ|, Φ the exact flow map from eps to T.
 */
export const flowLogLikelihood = (sde: LinearSde, data: Gaussian2, eps: number, xs: ArrayLike<number>): Float64Array => {
  const map = flowMap(sde, data, eps, sde.T)
  const prior: Gaussian2 = { mean: [0, 0], cov: [sde.priorVariance, 0, sde.priorVariance] }
  return logDensity(prior, map.apply(xs)).map((l) => l + map.logDet)
}

/**
 * ½E‖std·k·s + z‖² of `dsm` at time t for the score k·(exact score) (weighting "none"), or the same
 * times g²/v (weighting "likelihood"): E‖std·k·s + z‖² = D − (2k − k²)·v·tr C⁻¹, minimal at k = 1.
 */
export const expectedDsmLoss = (sde: LinearSde, data: Gaussian2, t: number, scale: number, weighting: "none" | "likelihood"): number => {
  const m2 = evaluate(sde.marginals.meanWeight, t) ** 2
  const v = evaluate(sde.marginals.variance, t)
  const [xx, xy, yy] = data.cov
  const [a, b, d] = [m2 * xx + v, m2 * xy, m2 * yy + v]
  const traceInverse = (a + d) / (a * d - b * b)
  const loss = 0.5 * (2 - (2 * scale - scale * scale) * v * traceInverse)
  return weighting === "none" ? loss : (loss * evaluate(sde.g, t) ** 2) / v
}
