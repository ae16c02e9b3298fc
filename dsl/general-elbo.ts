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
import { vjp } from "../src/ir/autodiff.ts"
import { constant, full, normal, rademacher, tensorData, type Tensor, type TensorLike } from "../src/ir/tensor.ts"
import { checkKeys, invalid } from "./errors.ts"
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
  /**
   * λ of a penalty λ∫‖∂μ/∂y‖²_F subtracted from the bound (default 0; Finlay et al. 2020's Jacobian
   * regulariser). Not part of the ELBO: a training aid. With few steps the simulated bound can be
   * raised by dynamics the steps do not resolve (the step's trace is not its log-determinant); the
   * penalty keeps μ smooth enough for them. Evaluate with it off and with many steps.
   */
  readonly jacobianPenalty?: number
}

/** Largest number of elements per sample for the exact divergence: it costs one vjp per element. */
export const EXACT_DIVERGENCE_MAX = 16

const sampleAxes = (x: Tensor) => Array.from({ length: x.rank - 1 }, (_, i) => i + 1)

/** The rows eᵢᵀ(∂h/∂x) of the per-sample Jacobian (one vjp each) and the one-hot eᵢ. */
const jacobianRows = (h: Tensor, x: Tensor): { row: Tensor; oneHot: Tensor }[] => {
  const perSample = x.size / x.shape[0]!
  if (perSample > EXACT_DIVERGENCE_MAX) throw invalid("divergence", "exact", `${perSample} elements per sample need ${perSample} vjps; use "hutchinson" above ${EXACT_DIVERGENCE_MAX}`)
  return Array.from({ length: perSample }, (_, i) => {
    const oneHot = tensorData(Array.from({ length: perSample }, (_, j) => (j === i ? 1 : 0)), x.shape.slice(1)).broadcastTo(x.shape)
    return { row: vjp(h, [x], oneHot)[0]!, oneHot }
  })
}

const sumOf = (terms: Tensor[]): Tensor => terms.reduce((a, b) => a.add(b))

/** ∇·h at x per sample [N], exactly: Σᵢ eᵢᵀ(∂h/∂x)eᵢ over one-hot cotangents eᵢ. */
export const exactDivergence = (h: Tensor, x: Tensor): Tensor =>
  sumOf(jacobianRows(h, x).map(({ row, oneHot }) => row.mul(oneHot).sum(sampleAxes(x))))

/**
 * One Euler–Maruyama step of the inference SDE from (y, t) over h, and the step's share of the
 * integral, h·(½‖a‖² + ∇·μ) per sample [N]. `t` and `h` may be uniforms: a solver can chain this step.
 */
export const generalElboStep = (gen: GenerativeSde, y: Tensor, t: Tensor, h: Tensor | number, options: Omit<GeneralElboOptions, "steps"> = {}): { y: Tensor; increment: Tensor } => {
  const n = y.shape[0]!
  const divergence = options.divergence ?? (y.size / n <= EXACT_DIVERGENCE_MAX ? "exact" : "hutchinson")
  const s = t.neg().add(gen.T)
  const mu = gen.mu(y, s)
  const sigma = gen.sigma(s)
  const a = options.a?.(y, t)
  const penalty = options.jacobianPenalty ?? 0
  const rows = divergence === "exact" ? jacobianRows(mu, y) : undefined
  const div = rows ? sumOf(rows.map(({ row, oneHot }) => row.mul(oneHot).sum(sampleAxes(y)))) : hutchinson(mu, y, "rademacher", options.probes ?? 1)
  const kinetic = a ? a.square().sum(sampleAxes(y)).mul(0.5) : full([n], 0)
  let integrand = kinetic.add(div)
  if (penalty > 0) {
    // ‖J‖²_F: the exact rows' squares, or ‖Jᵀε‖² for a Rademacher ε (an unbiased estimate).
    const frobenius = rows ? sumOf(rows.map(({ row }) => row.square().sum(sampleAxes(y)))) : vjp(mu, [y], rademacher(y.shape))[0]!.square().sum(sampleAxes(y))
    integrand = integrand.add(frobenius.mul(penalty))
  }
  const increment = integrand.mul(h)
  const drift = a ? a.mul(sigma).sub(mu) : mu.neg()
  const moved = y.add(drift.mul(h))
  // A literal σ = 0 (a flow) draws no noise at all.
  if (sigma === 0) return { y: moved, increment }
  const sqrtH = typeof h === "number" ? Math.sqrt(h) : h.sqrt()
  return { y: moved.add(normal(y.shape).mul(sqrtH).mul(sigma)), increment }
}

/** Per-sample lower bound [N] (nats) on log p_T(x) for data x [N, …]: the inference SDE unrolled in the program. */
export const generalElbo = (gen: GenerativeSde, x: Tensor, options: GeneralElboOptions): Tensor => {
  checkKeys<GeneralElboOptions>("generalElbo", options, { a: true, steps: true, divergence: true, probes: true, jacobianPenalty: true })
  if (!(Number.isInteger(options.steps) && options.steps >= 1)) throw invalid("steps", options.steps, "need at least one step")
  const h = gen.T / options.steps
  let y = x
  let integral: Tensor = full([x.shape[0]!], 0)
  for (let k = 0; k < options.steps; k++) {
    const next = generalElboStep(gen, y, constant(k * h), h, options)
    integral = integral.add(next.increment)
    y = next.y
  }
  return gen.priorLogDensity(y).sub(integral)
}
