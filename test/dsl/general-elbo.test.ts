/**
 * The general ELBO of Theorem 1 against two known answers: a linear normalizing flow (σ = 0, a = 0),
 * where the bound is the exact log-likelihood, and the plug-in reverse SDE with the analytic score of
 * Gaussian data, where it must agree with `elbo` (no simulation, sampled t) within Monte-Carlo error.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { compile } from "../../src/compile/compile.ts"
import type { Tensor } from "../../src/ir/tensor.ts"
import { generalElbo } from "../../dsl/general-elbo.ts"
import { elbo } from "../../dsl/objectives.ts"
import { aOf } from "../../dsl/reverse.ts"
import { coefficient, diffusion, drift, priorLogDensity } from "../../dsl/sde.ts"
import { vp } from "../../dsl/library/index.ts"
import { InvalidOption } from "../../dsl/errors.ts"
import { gaussianScore, logDensity, meanAndError, sampleGaussian, type Gaussian2 } from "../support/gaussian.ts"

setDefaultTimeout(120_000)

const standardNormalLog = (x: Tensor) => x.square().sum([1]).mul(-0.5).sub(Math.log(2 * Math.PI) * (x.size / x.shape[0]!) * 0.5)

describe("general ELBO (Theorem 1)", () => {
  test("σ = 0, a = 0 on a linear drift μ = A·x is the exact log-likelihood of the flow", async () => {
    const [A, T, n] = [0.7, 1, 64]
    const flow = { mu: (x: Tensor) => x.mul(A), sigma: () => 0, T, priorLogDensity: standardNormalLog }
    const exe = await compile(({ x }: { x: Tensor }) => generalElbo(flow, x, { steps: 1000 }), { x: [n, 2] }, { backend: "cpu", precision: "f64" })
    const x = Float64Array.from({ length: 2 * n }, (_, i) => Math.sin(i * 1.7) * 2)
    exe.run({ x })
    const bound = await exe.read("out")
    for (let i = 0; i < n; i++) {
      // X_T = e^{AT}·X₀, so log p_T(x) = log p₀(e^{−AT}x) − A·D·T.
      const [u, v] = [x[2 * i]! * Math.exp(-A * T), x[2 * i + 1]! * Math.exp(-A * T)]
      const exact = -0.5 * (u * u + v * v) - Math.log(2 * Math.PI) - 2 * A * T
      expect(Math.abs(bound[i]! - exact)).toBeLessThan(2e-3 * (1 + Math.abs(exact)))
    }
  })

  test("the plug-in choice μ = g·a − f with the analytic score agrees with elbo and the true log-likelihood", async () => {
    const sde = vp()
    const data: Gaussian2 = { mean: [1, -2], cov: [0.25, 0.1, 0.09] }
    const model = gaussianScore(sde, data)
    const n = 8000
    // Generation time s runs from the prior (s = 0, forward t = T) to the data (s = T, t = 0).
    const forward = (s: Tensor) => s.neg().add(sde.T)
    const plugin = {
      mu: (x: Tensor, s: Tensor) => diffusion(sde, x, forward(s)).mul(aOf(sde, model, x, forward(s))).sub(drift(sde, x, forward(s))),
      sigma: (s: Tensor) => coefficient(sde.g, forward(s), s),
      T: sde.T,
      priorLogDensity: (x: Tensor) => priorLogDensity(sde, x),
    }
    const a = (y: Tensor, t: Tensor) => aOf(sde, model, y, t)
    const x = sampleGaussian(data, n, 21)
    const simulated = async (steps: number) => {
      const exe = await compile(({ x }: { x: Tensor }) => generalElbo(plugin, x, { a, steps }), { x: [n, 2] }, { backend: "cpu", precision: "f64" })
      exe.run({ x }, { seed: steps })
      return meanAndError(await exe.read("out"))
    }
    const [coarse, fine] = [await simulated(100), await simulated(200)]
    // Euler–Maruyama biases the bound by O(h): Richardson's 2·fine − coarse removes the first-order term.
    const extrapolated = { mean: 2 * fine.mean - coarse.mean, stderr: Math.hypot(2 * fine.stderr, coarse.stderr) }
    const reference = await compile(({ x }: { x: Tensor }) => elbo(sde, model, x), { x: [n, 2] }, { backend: "cpu", precision: "f64" })
    reference.run({ x }, { seed: 2 })
    const r = meanAndError(await reference.read("out"))
    const truth = meanAndError(logDensity(data, x))
    expect(Math.abs(extrapolated.mean - r.mean)).toBeLessThan(5 * Math.hypot(extrapolated.stderr, r.stderr))
    // With the true score the bound is tight up to the prior's mismatch with p_T (a few 1e-3 nats for VP).
    expect(Math.abs(extrapolated.mean - truth.mean)).toBeLessThan(5 * extrapolated.stderr)
    // The simulated bound converges towards the truth as the steps double.
    expect(truth.mean - fine.mean).toBeLessThan(truth.mean - coarse.mean)
  })

  test("the Jacobian penalty subtracts exactly λ∫‖∂μ/∂y‖²_F: λ·A²·D·T on a linear flow, with exact and with Hutchinson divergence", async () => {
    const [A, T, n, lambda] = [0.7, 1, 16, 0.05]
    const flow = { mu: (x: Tensor) => x.mul(A), sigma: () => 0, T, priorLogDensity: standardNormalLog }
    const x = Float64Array.from({ length: 2 * n }, (_, i) => Math.cos(i))
    for (const divergence of ["exact", "hutchinson"] as const) {
      const exe = await compile(
        ({ x }: { x: Tensor }) => ({
          plain: generalElbo(flow, x, { steps: 20, divergence }),
          penalised: generalElbo(flow, x, { steps: 20, divergence, jacobianPenalty: lambda }),
        }),
        { x: [n, 2] },
        { backend: "cpu", precision: "f64" },
      )
      exe.run({ x })
      const [plain, penalised] = [await exe.read("plain"), await exe.read("penalised")]
      // Rademacher probes make ‖Jᵀε‖² = A²‖ε‖² = A²·D exactly for J = A·I, so both forms are exact here.
      for (let i = 0; i < n; i++) expect(plain[i]! - penalised[i]!).toBeCloseTo(lambda * A * A * 2 * T, 10)
    }
  })

  test("an exact divergence of too many elements per sample is a typed error naming the way out", () => {
    const flow = { mu: (x: Tensor) => x, sigma: () => 0, T: 1, priorLogDensity: standardNormalLog }
    expect(() => compile(({ x }: { x: Tensor }) => generalElbo(flow, x, { steps: 1, divergence: "exact" }), { x: [2, 32] }, { backend: "cpu" })).toThrow(InvalidOption)
  })
})
