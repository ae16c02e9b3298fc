/**
 * Solvers as data and their single steps as tensor functions. A step of any solver with an analytic
 * or network drift compiles to as few kernels as the fusion rule allows (Euler–Maruyama with an
 * analytic score: one). Time runs in whatever direction dt says: reverse-time sampling uses dt < 0.
 */
import { normal, type Tensor } from "../src/ir/tensor.ts"
import { invalid } from "./errors.ts"
import { reverseDiffusion, reverseDrift, scoreOf, type ReverseSde } from "./reverse.ts"

export type Solver =
  | { readonly kind: "euler-maruyama" }
  | { readonly kind: "heun" }
  | { readonly kind: "rk4" }
  | { readonly kind: "predictor-corrector"; readonly snr: number; readonly correctorSteps: number }
  | { readonly kind: "sra1" }
  | { readonly kind: "adaptive"; readonly rtol: number; readonly atol: number }

export const eulerMaruyama = (): Solver => ({ kind: "euler-maruyama" })
/** Heun's method for the probability-flow ODE (λ = 1). */
export const heun = (): Solver => ({ kind: "heun" })
/** Classical Runge–Kutta 4 for the probability-flow ODE. */
export const rk4 = (): Solver => ({ kind: "rk4" })
/** Reverse-diffusion predictor + Langevin corrector with signal-to-noise step size (Song et al. 2021). */
export const predictorCorrector = (options: { snr?: number; correctorSteps?: number } = {}): Solver => ({
  kind: "predictor-corrector",
  snr: options.snr ?? 0.16,
  correctorSteps: options.correctorSteps ?? 1,
})
/** Rößler's SRA1: strong order 1.5 for additive noise (g depends on t only — true of every linear SDE). */
export const sra1 = (): Solver => ({ kind: "sra1" })
/** Bogacki–Shampine 3(2) with step-size control, for the probability-flow ODE. */
export const adaptive = (options: { rtol?: number; atol?: number } = {}): Solver => ({
  kind: "adaptive",
  rtol: options.rtol ?? 1e-3,
  atol: options.atol ?? 1e-3,
})

export interface StepResult {
  readonly x: Tensor
  /** Scaled error norm of an embedded pair (adaptive solvers only): accept the step when ≤ 1. */
  readonly error?: Tensor
}

const odeOnly = new Set<Solver["kind"]>(["heun", "rk4", "adaptive"])

/** Checks the solver suits the process (ODE solvers need λ = 1). */
export const checkSolver = (rev: ReverseSde, solver: Solver): void => {
  if (odeOnly.has(solver.kind) && rev.lambda !== 1)
    throw invalid("solver", solver.kind, `solves ODEs only; use λ = 1 (probabilityFlow) or a stochastic solver (λ = ${rev.lambda})`)
  if (solver.kind === "predictor-corrector" && !(solver.snr > 0 && Number.isInteger(solver.correctorSteps) && solver.correctorSteps >= 0))
    throw invalid("predictor-corrector", solver, "needs snr > 0 and a whole number of corrector steps")
  if (solver.kind === "adaptive" && !(solver.rtol > 0 && solver.atol > 0)) throw invalid("adaptive", solver, "needs rtol > 0 and atol > 0")
}

const sampleAxes = (x: Tensor) => Array.from({ length: x.rank - 1 }, (_, i) => i + 1)

/** One step from (x, t) to t + dt. `t` and `dt` are scalar tensors (uniforms). */
export const step = (rev: ReverseSde, solver: Solver, x: Tensor, t: Tensor, dt: Tensor): StepResult => {
  const mu = (y: Tensor, s: Tensor) => reverseDrift(rev, y, s)
  const sigma = (s: Tensor) => reverseDiffusion(rev, x, s)
  const sqrtDt = dt.abs().sqrt()
  switch (solver.kind) {
    case "euler-maruyama":
      return { x: x.add(mu(x, t).mul(dt)).add(sigma(t).mul(sqrtDt).mul(normal(x.shape))) }
    case "heun": {
      const k1 = mu(x, t)
      const k2 = mu(x.add(k1.mul(dt)), t.add(dt))
      return { x: x.add(k1.add(k2).mul(dt.mul(0.5))) }
    }
    case "rk4": {
      const half = dt.mul(0.5)
      const k1 = mu(x, t)
      const k2 = mu(x.add(k1.mul(half)), t.add(half))
      const k3 = mu(x.add(k2.mul(half)), t.add(half))
      const k4 = mu(x.add(k3.mul(dt)), t.add(dt))
      return { x: x.add(k1.add(k2.mul(2)).add(k3.mul(2)).add(k4).mul(dt.div(6))) }
    }
    case "predictor-corrector": {
      let y = x.add(mu(x, t).mul(dt)).add(sigma(t).mul(sqrtDt).mul(normal(x.shape)))
      const s = t.add(dt)
      for (let i = 0; i < solver.correctorSteps; i++) {
        // Langevin step sized so that the noise-to-gradient norm ratio matches the target SNR. Norms are
        // batch means, as in Song et al.: a per-sample ‖score‖ near a mode is ~0 and would blow ε up.
        const score = scoreOf(rev.sde, rev.model, y, s)
        const z = normal(x.shape)
        const norm = (v: Tensor) => v.square().sum(sampleAxes(x)).sqrt().mean()
        const eps = norm(z).div(norm(score).add(1e-12)).mul(solver.snr).square().mul(2)
        y = y.add(eps.mul(score)).add(eps.mul(2).sqrt().mul(z))
      }
      return { x: y }
    }
    case "sra1": {
      // Rößler (2010) SRA1: c0 = (0, ¾), A0₂₁ = ¾, B0₂₁ = 3/2, α = (⅓, ⅔), c1 = (1, 0), β1 = (1, 0), β2 = (−1, 1).
      const dW = normal(x.shape).mul(sqrtDt)
      const chi = dW.add(normal(x.shape).mul(sqrtDt).mul(1 / Math.sqrt(3))).mul(0.5) // I₍₁,₀₎/h
      const k1 = mu(x, t)
      const end = sigma(t.add(dt))
      const h = x.add(k1.mul(dt.mul(0.75))).add(end.mul(chi).mul(1.5))
      const k2 = mu(h, t.add(dt.mul(0.75)))
      const drift = k1.mul(1 / 3).add(k2.mul(2 / 3)).mul(dt)
      return { x: x.add(drift).add(end.mul(dW.sub(chi))).add(sigma(t).mul(chi)) }
    }
    case "adaptive": {
      const k1 = mu(x, t)
      const k2 = mu(x.add(k1.mul(dt.mul(0.5))), t.add(dt.mul(0.5)))
      const k3 = mu(x.add(k2.mul(dt.mul(0.75))), t.add(dt.mul(0.75)))
      const next = x.add(k1.mul(2 / 9).add(k2.mul(1 / 3)).add(k3.mul(4 / 9)).mul(dt))
      const k4 = mu(next, t.add(dt))
      const err = k1.mul(-5 / 72).add(k2.mul(1 / 12)).add(k3.mul(1 / 9)).add(k4.mul(-1 / 8)).mul(dt)
      const scale = x.abs().maximum(next.abs()).mul(solver.rtol).add(solver.atol)
      return { x: next, error: err.div(scale).square().mean().sqrt() }
    }
  }
}
