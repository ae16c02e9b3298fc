/**
 * Training objectives and likelihood bounds of a linear SDE with a learned drift term a(x, t):
 *  - denoising score matching (DSM), with uniform or importance-sampled t, optionally
 *    likelihood-weighted (then it is, up to a constant, the negative continuous-time ELBO);
 *  - the continuous-time ELBO of the plug-in reverse SDE (Huang et al. 2021, Thm. 2 with the
 *    divergence of the known linear drift taken analytically and only the network's term probed);
 *  - bits/dim.
 * All return per-sample tensors [N]; noise and t are drawn inside the kernels.
 */
import { vjp } from "../src/ir/autodiff.ts"
import { normal, rademacher, where, type Tensor } from "../src/ir/tensor.ts"
import { checkKeys, invalid } from "./errors.ts"
import { sampleTimes, uniformTime, type TimeSampling } from "./importance.ts"
import { aOf, checkDriftModel, type DriftModel } from "./reverse.ts"
import { coefficient, diffusion, driftDivergence, perturb, priorLogDensity, type LinearSde } from "./sde.ts"
import { timeToTensor } from "./lower-time.ts"
import { full } from "../src/ir/tensor.ts"

const sampleAxes = (x: Tensor) => Array.from({ length: x.rank - 1 }, (_, i) => i + 1)

export interface DsmOptions {
  readonly t?: TimeSampling
  /**
   * "none": ½‖std·s + z‖² (the usual ε-prediction loss; with importance-sampled t this is sdeflow's
   * "debiased" DSM, proportional to the ELBO). "likelihood": ½‖a + g·z/std‖²/q(t), an unbiased
   * estimate of ∫_ε^T ½E‖a + g·z/std‖² dt (the ELBO's score term up to a constant) under either time
   * sampling: importance-sampled times below ε get weight 0 (see `dsm`).
   */
  readonly weighting?: "none" | "likelihood"
}

/** Per-sample DSM loss [N] for data x0 [N, …]. */
export const dsm = (sde: LinearSde, model: DriftModel, x0: Tensor, options: DsmOptions = {}): Tensor => {
  checkKeys<DsmOptions>("dsm", options, { t: true, weighting: true })
  checkDriftModel(model)
  const n = x0.shape[0]!
  const sampling = options.t ?? uniformTime()
  const { t, weight } = sampleTimes(sde, sampling, n)
  const z = normal(x0.shape)
  const xt = perturb(sde, x0, t, z)
  const a = aOf(sde, model, xt, t)
  const std = coefficient(sde.marginals.std, t, x0)
  const g = diffusion(sde, x0, t)
  if ((options.weighting ?? "none") === "none") return a.mul(std).div(g).add(z).square().sum(sampleAxes(x0)).mul(0.5)
  // The target g·z/std grows like t^(−1/2), so ∫₀^ε of its square diverges: importance sampling's flat
  // part below ε would turn the estimate into one of infinite mean (heavy-tailed, growing with N).
  // Only [ε, T] is estimated, under uniform and importance sampling alike.
  const inRange = where(t.ge(sampling.eps), weight, 0)
  return a.add(g.mul(z).div(std)).square().sum(sampleAxes(x0)).mul(0.5).mul(inRange)
}

export interface ElboOptions {
  readonly t?: TimeSampling
  /** Hutchinson probe distribution (default Rademacher: lower variance for the same cost). */
  readonly probe?: "rademacher" | "gaussian"
  /** Number of probes averaged per sample (default 1). */
  readonly probes?: number
  /**
   * "analytic+hutchinson" (default): ∇·μ = g·∇·a − f(t)·D with only ∇·a probed;
   * "hutchinson": the whole ∇·μ probed. With Rademacher probes the two are identical (εᵀ(cI)ε = c·D
   * exactly); with Gaussian probes neither always wins: the extra term −f·(‖ε‖² − D) is negatively
   * correlated with a good VP score's probe term (the linear drift's Jacobian partly cancels it), so
   * near the true score "hutchinson" has the lower variance, far from it "analytic+hutchinson".
   */
  readonly divergence?: "analytic+hutchinson" | "hutchinson"
}

/** Hutchinson estimate of ∇·h at x: E[εᵀ(∂h/∂x)ε], averaged over `probes` probes, per sample [N]. */
export const hutchinson = (h: Tensor, x: Tensor, probe: "rademacher" | "gaussian", probes: number): Tensor => {
  if (!(Number.isInteger(probes) && probes >= 1)) throw invalid("probes", probes, "need a positive whole number of probes")
  let total: Tensor | undefined
  for (let k = 0; k < probes; k++) {
    const eps = probe === "rademacher" ? rademacher(x.shape) : normal(x.shape)
    const [jtEps] = vjp(h, [x], eps)
    const estimate = jtEps!.mul(eps).sum(sampleAxes(x))
    total = total ? total.add(estimate) : estimate
  }
  return total!.div(probes)
}

/**
 * Per-sample continuous-time ELBO [N] (nats) of the plug-in reverse SDE for data x [N, …]:
 *   log p_T(y_T) + (−∇·μ(y, t) − ½‖a(y, t)‖²)/q(t),  y ~ q(y_t | x), μ = g·a − f.
 */
export const elbo = (sde: LinearSde, model: DriftModel, x: Tensor, options: ElboOptions = {}): Tensor => {
  checkKeys<ElboOptions>("elbo", options, { t: true, probe: true, probes: true, divergence: true })
  checkDriftModel(model)
  const n = x.shape[0]!
  const { t, weight } = sampleTimes(sde, options.t ?? uniformTime(1e-5), n)
  const y = perturb(sde, x, t, normal(x.shape))
  const a = aOf(sde, model, y, t)
  const g = diffusion(sde, x, t)
  const probe = options.probe ?? "rademacher"
  const probes = options.probes ?? 1
  const divergenceMu =
    (options.divergence ?? "analytic+hutchinson") === "analytic+hutchinson"
      ? hutchinson(a, y, probe, probes).mul(timeToTensor(sde.g, t)).sub(driftDivergence(sde, y, t))
      : hutchinson(g.mul(a).sub(coefficient(sde.f, t, y).mul(y)), y, probe, probes)
  const kinetic = a.square().sum(sampleAxes(x)).mul(0.5)
  const yT = perturb(sde, x, full([n], sde.T), normal(x.shape))
  return priorLogDensity(sde, yT).sub(divergenceMu.add(kinetic).mul(weight))
}

/**
 * Bits per dimension from a per-sample log-likelihood bound (nats) of data scaled to [0, 1] by
 * (k + u)/256, plus the log-determinant of any further transform (e.g. the logit): the discrete
 * bound is log p(x) ≥ log p(y) + log|dy/du| − D·log 256.
 */
export const bitsPerDim = (logLikelihood: Tensor, dims: number, logDet?: Tensor): Tensor => {
  const total = logDet ? logLikelihood.add(logDet) : logLikelihood
  return total.mul(-1 / (dims * Math.LN2)).add(8)
}

