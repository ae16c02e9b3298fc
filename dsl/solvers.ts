/**
 * Solvers as data and their single steps as tensor functions, for any SDE (`general-sde.ts`): a step
 * compiles to as few kernels as the fusion rule allows (Euler–Maruyama with an analytic drift: one).
 * Time runs in whatever direction dt says: reverse-time sampling uses dt < 0, and Brownian increments
 * then have variance |dt|. Which solver suits which SDE is decided from the SDE's traced structure.
 */
import { normal, ones, tensorData, type Tensor } from "../src/ir/tensor.ts"
import { vjp } from "../src/ir/autodiff.ts"
import { invalid } from "./errors.ts"
import { diffusionFields, driftFields, type Sde } from "./general-sde.ts"
import { fieldsOf, mapFields, stateLike, type Fields, type State } from "./state.ts"
import type { SdeStructure } from "./structure.ts"

export type Solver =
  | { readonly kind: "auto" }
  | { readonly kind: "euler-maruyama" }
  | { readonly kind: "milstein" }
  | { readonly kind: "stochastic-heun" }
  | { readonly kind: "heun" }
  | { readonly kind: "rk4" }
  | { readonly kind: "predictor-corrector"; readonly snr: number; readonly correctorSteps: number }
  | { readonly kind: "sra1" }
  | { readonly kind: "adaptive"; readonly rtol: number; readonly atol: number }

/** The solver that suits the SDE's structure, picked when `solve` runs (see `chooseSolver`). */
export const auto = (): Solver => ({ kind: "auto" })
/** Euler–Maruyama: any Itô SDE (strong order ½, weak order 1). */
export const eulerMaruyama = (): Solver => ({ kind: "euler-maruyama" })
/** Milstein for diagonal noise, ∂σ/∂x by autodiff: strong order 1 (Itô or Stratonovich). */
export const milstein = (): Solver => ({ kind: "milstein" })
/** Stochastic Heun: the Stratonovich solution (strong order 1 for commutative noise). */
export const stochasticHeun = (): Solver => ({ kind: "stochastic-heun" })
/** Heun's method for ODEs (a zero diffusion: the probability-flow ODE, λ = 1). */
export const heun = (): Solver => ({ kind: "heun" })
/** Classical Runge–Kutta 4 for ODEs. */
export const rk4 = (): Solver => ({ kind: "rk4" })
/** Reverse-diffusion predictor + Langevin corrector with signal-to-noise step size (Song et al. 2021). */
export const predictorCorrector = (options: { snr?: number; correctorSteps?: number } = {}): Solver => ({
  kind: "predictor-corrector",
  snr: options.snr ?? 0.16,
  correctorSteps: options.correctorSteps ?? 1,
})
/** Rößler's SRA1: strong order 1.5 for additive noise (σ independent of x — true of every linear SDE). */
export const sra1 = (): Solver => ({ kind: "sra1" })
/** Bogacki–Shampine 3(2) with step-size control, for ODEs. */
export const adaptive = (options: { rtol?: number; atol?: number } = {}): Solver => ({
  kind: "adaptive",
  rtol: options.rtol ?? 1e-3,
  atol: options.atol ?? 1e-3,
})

export interface StepResult<S extends State = State> {
  readonly x: S
  /** The Brownian increments the step used, by field (SDE solvers; general noise: [N, m]). */
  readonly dW?: Fields
  /** Scaled error norm of an embedded pair (adaptive solvers only): accept the step when ≤ 1. */
  readonly error?: Tensor
}

const odeOnly = new Set<Solver["kind"]>(["heun", "rk4", "adaptive"])

/** The process's λ when it is a plug-in reverse SDE, to name it in errors. */
const lambdaOf = (process: object): number | undefined => (process as { lambda?: number }).lambda

/** The solver `auto()` stands for on an SDE of this structure. */
export const chooseSolver = <S extends State>(process: Sde<S>, structure: SdeStructure): Solver => {
  if (structure.zeroDiffusion) return rk4()
  if (structure.additive) return sra1()
  if (structure.diagonal) return milstein()
  return process.calculus === "stratonovich" ? stochasticHeun() : eulerMaruyama()
}

/** Checks the solver suits the SDE; a typed InvalidOption "solver" names the reason otherwise. */
export const checkSolver = <S extends State>(process: Sde<S>, solver: Solver, structure: SdeStructure): void => {
  const refuse = (why: string) => invalid("solver", solver.kind, why)
  const lambda = lambdaOf(process)
  if (odeOnly.has(solver.kind) && !structure.zeroDiffusion)
    throw refuse(lambda !== undefined ? `solves ODEs only; use λ = 1 (probabilityFlow) or a stochastic solver (λ = ${lambda})` : `solves ODEs only, and ${structure.reasons.zeroDiffusion}`)
  const stratonovich = process.calculus === "stratonovich" && !structure.additive
  if (solver.kind === "euler-maruyama" && stratonovich)
    throw refuse(`converges to the Itô solution, and this SDE is Stratonovich with multiplicative noise (${structure.reasons.additive}): use stochasticHeun() or milstein()`)
  if (solver.kind === "stochastic-heun" && process.calculus === "ito" && !structure.additive)
    throw refuse(`converges to the Stratonovich solution, and this SDE is Itô with multiplicative noise (${structure.reasons.additive}): use eulerMaruyama() or milstein()`)
  if (solver.kind === "milstein" && !structure.diagonal)
    throw refuse(
      process.noise === "diagonal"
        ? `needs commutative noise, and this noise is not: ${structure.reasons.diagonal}`
        : `needs commutative noise; ${structure.reasons.diagonal} are not known to commute (use eulerMaruyama() or stochasticHeun())`,
    )
  if (solver.kind === "sra1" && !structure.additive) throw refuse(`is for additive noise, and ${structure.reasons.additive}`)
  if (solver.kind === "predictor-corrector") {
    if (!process.score) throw refuse("a Langevin corrector needs the score of the marginals, and this SDE declares none (give `score`)")
    if (!(solver.snr > 0 && Number.isInteger(solver.correctorSteps) && solver.correctorSteps >= 0))
      throw invalid("predictor-corrector", solver, "needs snr > 0 and a whole number of corrector steps")
  }
  if (solver.kind === "adaptive" && !(solver.rtol > 0 && solver.atol > 0)) throw invalid("adaptive", solver, "needs rtol > 0 and atol > 0")
}

export interface StepOptions {
  /**
   * The step's Brownian increments as sums over this many sub-steps, each keyed by its own fine step
   * number (step·B + i): a solve with n steps and B sub-steps is driven by the same Brownian path as
   * one with n·B steps, so errors can be measured against a finer solve (default 1).
   */
  readonly substeps?: number
}

/**
 * ΔW over a step of size H = |dt| and, for SRA1, χ = I₍₁,₀₎/H with I₍₁,₀₎ = ∫ₜ^{t+H} (W_s − W_t) ds, from B
 * sub-steps of size h = H/B: ΔW = Σ ΔWᵢ and, exactly, I₍₁,₀₎ = Σᵢ [I₍₁,₀₎ᵢ + h·(ΔW₀ + … + ΔWᵢ₋₁)], each
 * sub-step's I₍₁,₀₎ᵢ = ½h(ΔWᵢ + √h·ζᵢ/√3) drawn with its exact joint law. B = 1 is the usual one-step draw.
 */
const increments = (shape: readonly number[], sqrtDt: Tensor, substeps: number, withChi: boolean): { dW: Tensor; chi?: Tensor } => {
  if (substeps === 1) {
    // The same keys as the sub-step draws with B = 1, without a sum over an axis of length 1.
    const dW = normal(shape).mul(sqrtDt)
    return withChi ? { dW, chi: dW.add(normal(shape).mul(sqrtDt).mul(1 / Math.sqrt(3))).mul(0.5) } : { dW }
  }
  const draw = () => normal([substeps, ...shape], { substeps })
  const sqrtH = sqrtDt.mul(1 / Math.sqrt(substeps))
  const fine = draw().mul(sqrtH)
  const dW = fine.sum([0])
  if (!withChi) return { dW }
  const zeta = draw().sum([0]).mul(sqrtH).mul(1 / Math.sqrt(3))
  // ΔWⱼ enters I₍₁,₀₎ through its own sub-step (½h) and every later one (h each): weight (B − j − ½)·h.
  const weights = tensorData(Array.from({ length: substeps }, (_, j) => (substeps - j - 0.5) / substeps), [substeps, ...shape.map(() => 1)])
  return { dW, chi: fine.mul(weights).sum([0]).add(zeta.mul(0.5 / substeps)) }
}

/** Axes of a field after the leading (sample) axis. */
const sampleAxes = (x: Tensor) => Array.from({ length: x.rank - 1 }, (_, i) => i + 1)

/**
 * One step from (x, t) to t + dt. `t` and `dt` are scalar tensors (uniforms). The solver must suit
 * the SDE (`checkSolver`); `auto()` must have been resolved (`chooseSolver`).
 */
export const step = <S extends State>(process: Sde<S>, solver: Solver, x: S, t: Tensor, dt: Tensor, options: StepOptions = {}): StepResult<S> => {
  const substeps = options.substeps ?? 1
  if (!(Number.isInteger(substeps) && substeps >= 1)) throw invalid("substeps", substeps, "a whole number of sub-steps ≥ 1")
  const x0 = fieldsOf(x)
  const mu = (y: Fields, s: Tensor) => driftFields(process, y, x, s)
  const sigma = (y: Fields, s: Tensor) => diffusionFields(process, y, x, s)
  const general = process.noise !== "diagonal" ? process.noise.brownian : 0
  const sqrtDt = dt.abs().sqrt()
  // Brownian increments: per element for diagonal noise, [N, m] for general noise.
  const shapeOf = (v: Tensor) => (general ? [v.shape[0]!, general] : v.shape)
  const brownian = (): Fields => mapFields((v) => increments(shapeOf(v), sqrtDt, substeps, false).dW, x0)
  // σ·dW: elementwise for diagonal noise, a matrix–vector product per sample for general noise.
  const times = (g: Fields, dW: Fields): Fields =>
    general ? mapFields((gi, w) => gi.mul(w.reshape([w.shape[0]!, 1, general])).sum([2]), g, dW) : mapFields((gi, w) => gi.mul(w), g, dW)
  const axpy = (y: Fields, a: Fields, s: Tensor | number): Fields => mapFields((yi, ai) => yi.add(ai.mul(s)), y, a)
  const plus = (y: Fields, a: Fields): Fields => mapFields((yi, ai) => yi.add(ai), y, a)
  const done = (fields: Fields, extra: { dW?: Fields; error?: Tensor } = {}): StepResult<S> => ({ x: stateLike(x, fields), ...extra })
  switch (solver.kind) {
    case "auto":
      throw invalid("solver", "auto", "resolve auto() with chooseSolver before stepping")
    case "euler-maruyama": {
      const dW = brownian()
      return done(plus(axpy(x0, mu(x0, t), dt), times(sigma(x0, t), dW)), { dW })
    }
    case "milstein": {
      // Diagonal noise: σᵢ depends on xᵢ only, so ∂σᵢ/∂xᵢ is the vjp of σ with a ones cotangent.
      const dW = brownian()
      const g = sigma(x0, t)
      const slope = mapFields((gi, xi) => vjp(gi, [xi], ones(gi.shape))[0]!, g, x0)
      const ito = process.calculus === "ito"
      const correction = mapFields((gi, si, w) => gi.mul(si).mul(0.5).mul(ito ? w.square().sub(dt.abs()) : w.square()), g, slope, dW)
      return done(plus(plus(axpy(x0, mu(x0, t), dt), times(g, dW)), correction), { dW })
    }
    case "stochastic-heun": {
      const dW = brownian()
      const [f0, g0] = [mu(x0, t), sigma(x0, t)]
      const predicted = plus(axpy(x0, f0, dt), times(g0, dW))
      const s = t.add(dt)
      const [f1, g1] = [mu(predicted, s), sigma(predicted, s)]
      const half = dt.mul(0.5)
      return done(plus(axpy(x0, mapFields((a, b) => a.add(b), f0, f1), half), mapFields((v) => v.mul(0.5), times(mapFields((a, b) => a.add(b), g0, g1), dW))), { dW })
    }
    case "heun": {
      const k1 = mu(x0, t)
      const k2 = mu(axpy(x0, k1, dt), t.add(dt))
      return done(axpy(x0, mapFields((a, b) => a.add(b), k1, k2), dt.mul(0.5)))
    }
    case "rk4": {
      const half = dt.mul(0.5)
      const k1 = mu(x0, t)
      const k2 = mu(axpy(x0, k1, half), t.add(half))
      const k3 = mu(axpy(x0, k2, half), t.add(half))
      const k4 = mu(axpy(x0, k3, dt), t.add(dt))
      return done(axpy(x0, mapFields((a, b, c, d) => a.add(b.mul(2)).add(c.mul(2)).add(d), k1, k2, k3, k4), dt.div(6)))
    }
    case "predictor-corrector": {
      const dW = brownian()
      let y = plus(axpy(x0, mu(x0, t), dt), times(sigma(x0, t), dW))
      const s = t.add(dt)
      for (let i = 0; i < solver.correctorSteps; i++) {
        // Langevin step sized so that the noise-to-gradient norm ratio matches the target SNR. Norms are
        // batch means over all fields, as in Song et al.: a per-sample ‖score‖ near a mode is ~0 and would blow ε up.
        const score = fieldsOf(process.score!(stateLike(x, y), s))
        const z = mapFields((v) => normal(v.shape), x0)
        const norm = (v: Fields) => Object.values(v).map((f) => f.square().sum(sampleAxes(f))).reduce((a, b) => a.add(b)).sqrt().mean()
        const eps = norm(z).div(norm(score).add(1e-12)).mul(solver.snr).square().mul(2)
        y = mapFields((yi, si, zi) => yi.add(eps.mul(si)).add(eps.mul(2).sqrt().mul(zi)), y, score, z)
      }
      return done(y, { dW })
    }
    case "sra1": {
      // Rößler (2010) SRA1: c0 = (0, ¾), A0₂₁ = ¾, B0₂₁ = 3/2, α = (⅓, ⅔), c1 = (1, 0), β1 = (1, 0), β2 = (−1, 1).
      const draws = Object.fromEntries(Object.entries(x0).map(([name, v]) => [name, increments(shapeOf(v), sqrtDt, substeps, true)]))
      const dW: Fields = Object.fromEntries(Object.entries(draws).map(([name, d]) => [name, d.dW]))
      const chi: Fields = Object.fromEntries(Object.entries(draws).map(([name, d]) => [name, d.chi!]))
      const k1 = mu(x0, t)
      const end = sigma(x0, t.add(dt))
      const h = plus(axpy(x0, k1, dt.mul(0.75)), mapFields((v) => v.mul(1.5), times(end, chi)))
      const k2 = mu(h, t.add(dt.mul(0.75)))
      const drift = mapFields((a, b) => a.mul(1 / 3).add(b.mul(2 / 3)).mul(dt), k1, k2)
      const noise = plus(times(end, mapFields((w, c) => w.sub(c), dW, chi)), times(sigma(x0, t), chi))
      return done(plus(plus(x0, drift), noise), { dW })
    }
    case "adaptive": {
      const k1 = mu(x0, t)
      const k2 = mu(axpy(x0, k1, dt.mul(0.5)), t.add(dt.mul(0.5)))
      const k3 = mu(axpy(x0, k2, dt.mul(0.75)), t.add(dt.mul(0.75)))
      const next = axpy(x0, mapFields((a, b, c) => a.mul(2 / 9).add(b.mul(1 / 3)).add(c.mul(4 / 9)), k1, k2, k3), dt)
      const k4 = mu(next, t.add(dt))
      const err = mapFields((a, b, c, d) => a.mul(-5 / 72).add(b.mul(1 / 12)).add(c.mul(1 / 9)).add(d.mul(-1 / 8)).mul(dt), k1, k2, k3, k4)
      const scaled = mapFields((e, xi, ni) => e.div(xi.abs().maximum(ni.abs()).mul(solver.rtol).add(solver.atol)).square(), err, x0, next)
      const count = Object.values(x0).reduce((n, v) => n + v.size, 0)
      const error = Object.values(scaled).map((v) => v.sum()).reduce((a, b) => a.add(b)).div(count).sqrt()
      return done(next, { error })
    }
  }
}
