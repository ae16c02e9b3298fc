/**
 * The paper's general ELBO (Huang, Lim, Courville 2021, Theorem 1). For a generative SDE
 *   dX = μ(X, s) ds + σ(s) dB,  s ∈ [0, T],  X₀ ~ p₀,
 * and an inference SDE, run from the data in inference time t = T − s,
 *   dY = (σ(T − t)·a(Y, t) − μ(Y, T − t)) dt + σ(T − t) dB̂,  Y₀ = x,
 * with any inference drift a,
 *   log p_T(x) ≥ E[ log p₀(Y_T) − ∫₀ᵀ ½‖a(Y_t, t)‖² + ∇·μ(Y_t, T − t) dt | Y₀ = x ].
 * Y is simulated by Euler–Maruyama inside the program, with reparameterised noise, so the bound is a
 * tensor whose gradient flows through the simulated path to μ's and a's parameters. σ = 0 and a = 0 is
 * a continuous normalizing flow trained by exact maximum likelihood; μ = g·a − f with the forward SDE's
 * f, g makes the inference SDE the forward SDE and the bound the plug-in reverse SDE's ELBO.
 */
import { constant, full, normal, tensorData, vjp, type Tensor, type TensorLike } from "../src/index.ts"
import { invalid } from "./errors.ts"
import { hutchinson } from "./objectives.ts"

export interface GenerativeSde {
  /** Drift μ(x, s) in generation time (s = 0 at the prior, s = T at the data). */
  readonly mu: (x: Tensor, s: Tensor) => Tensor
  /** Diffusion σ(s): a function of time only, as in Theorem 1 (0: an ODE, a normalizing flow). */
  readonly sigma: (s: Tensor) => TensorLike
  readonly T: number
  /** log p₀ of the prior, per sample [N]. */
  readonly priorLogDensity: (x: Tensor) => Tensor
}

export interface GeneralElboOptions {
  /** The inference drift a(y, t), in inference time; default 0. */
  readonly a?: (y: Tensor, t: Tensor) => Tensor
  /** Euler–Maruyama steps of the inference SDE. */
  readonly steps: number
  /** ∇·μ exactly (D vector–Jacobian products; D ≤ 16 elements per sample) or by Hutchinson probes. */
  readonly divergence?: "exact" | "hutchinson"
  readonly probes?: number
}

/** Largest number of elements per sample for the exact divergence: it costs one vjp per element. */
export const EXACT_DIVERGENCE_MAX = 16

const sampleAxes = (x: Tensor) => Array.from({ length: x.rank - 1 }, (_, i) => i + 1)

/** ∇·h at x per sample [N], exactly: Σᵢ eᵢᵀ(∂h/∂x)eᵢ over one-hot cotangents eᵢ. */
export const exactDivergence = (h: Tensor, x: Tensor): Tensor => {
  const perSample = x.size / x.shape[0]!
  if (perSample > EXACT_DIVERGENCE_MAX) throw invalid("divergence", "exact", `${perSample} elements per sample need ${perSample} vjps; use "hutchinson" above ${EXACT_DIVERGENCE_MAX}`)
  let total: Tensor | undefined
  for (let i = 0; i < perSample; i++) {
    const oneHot = tensorData(Array.from({ length: perSample }, (_, j) => (j === i ? 1 : 0)), x.shape.slice(1)).broadcastTo(x.shape)
    const term = vjp(h, [x], oneHot)[0]!.mul(oneHot).sum(sampleAxes(x))
    total = total ? total.add(term) : term
  }
  return total!
}

/** Per-sample lower bound [N] (nats) on log p_T(x) for data x [N, …]. */
export const generalElbo = (gen: GenerativeSde, x: Tensor, options: GeneralElboOptions): Tensor => {
  if (!(Number.isInteger(options.steps) && options.steps >= 1)) throw invalid("steps", options.steps, "need at least one step")
  const n = x.shape[0]!
  const h = gen.T / options.steps
  const divergence = options.divergence ?? (x.size / n <= EXACT_DIVERGENCE_MAX ? "exact" : "hutchinson")
  let y = x
  let integral: Tensor = full([n], 0)
  for (let k = 0; k < options.steps; k++) {
    const t = constant(k * h)
    const s = constant(gen.T - k * h)
    const mu = gen.mu(y, s)
    const sigma = gen.sigma(s)
    const a = options.a?.(y, t)
    const div = divergence === "exact" ? exactDivergence(mu, y) : hutchinson(mu, y, "rademacher", options.probes ?? 1)
    const kinetic = a ? a.square().sum(sampleAxes(y)).mul(0.5) : full([n], 0)
    integral = integral.add(kinetic.add(div).mul(h))
    const drift = a ? a.mul(sigma).sub(mu) : mu.neg()
    y = y.add(drift.mul(h))
    // A literal σ = 0 (a flow) draws no noise at all.
    if (sigma !== 0) y = y.add(normal(y.shape).mul(Math.sqrt(h)).mul(sigma))
  }
  return gen.priorLogDensity(y).sub(integral)
}
