import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { vp } from "../../dsl/library/index.ts"
import { pluginReverse, probabilityFlow } from "../../dsl/reverse.ts"
import { adaptive, eulerMaruyama, heun, predictorCorrector, rk4, sra1, type Solver } from "../../dsl/solvers.ts"
import { solve } from "../../dsl/solve.ts"
import { useGpu } from "../support/backends.ts"
import { flowMap, gaussianScore, marginalAt, momentZScores, sampleGaussian, type Gaussian2 } from "../support/gaussian.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const gpu = useGpu()
const sde = vp()
const correlated: Gaussian2 = { mean: [1, -2], cov: [0.25, 0.1, 0.09] }
const diagonal: Gaussian2 = { mean: [1, -2], cov: [0.25, 0, 0.04] }
const n = 4000
const t1 = 1e-3 // solve's default end time: the target is the marginal there, not the data itself

/** Largest |a − b| over two arrays. */
const worstAbs = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let worst = 0
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!))
  return Number.isNaN(worst) ? Infinity : worst
}

describe("reverse-SDE samplers on WebGPU reproduce the marginal (analytic score, N = 4000)", () => {
  // Sample means and covariances within 5 standard errors; the default prior N(0, 1) is used, whose
  // mismatch with the true p_T (mean 0.007·μ₀) the reverse SDE contracts by a further factor m(T)·σ².
  test.each([
    ["Euler–Maruyama, 500 steps", eulerMaruyama(), 500, correlated],
    ["Euler–Maruyama, 500 steps, diagonal covariance", eulerMaruyama(), 500, diagonal],
    ["SRA1, 200 steps", sra1(), 200, correlated],
    ["predictor–corrector, 300 steps", predictorCorrector(), 300, correlated],
  ] as const)("%s", async (_, solver: Solver, steps, data) => {
    const result = await solve(pluginReverse(sde, gaussianScore(sde, data)), solver, { backend: gpu(), shape: [n, 2], steps, seed: 3 })
    expect(result.steps).toBe(steps)
    const z = momentZScores(result.x, marginalAt(sde, data, t1))
    for (const score of z) expect(Math.abs(score)).toBeLessThan(5)
  })
})

describe("probability-flow ODE solvers on WebGPU transport each point as the exact linear flow map", () => {
  // For Gaussian data the ODE's flow is the linear map flowMap(T → t1): every sample can be checked,
  // and the moments follow. Float32 tolerances sit above each method's f64 error at these step counts.
  const x0 = sampleGaussian(marginalAt(sde, correlated, sde.T), n, 5)
  const expected = flowMap(sde, correlated, sde.T, t1).apply(x0)
  test.each([
    ["Heun, 200 steps", heun(), 200, 1e-3],
    ["RK4, 50 steps", rk4(), 50, 1e-4],
    ["adaptive Bogacki–Shampine, rtol = atol = 1e-3", adaptive(), 20, 1e-2],
  ] as const)("%s", async (_, solver: Solver, steps, tolerance) => {
    const result = await solve(probabilityFlow(sde, gaussianScore(sde, correlated)), solver, { backend: gpu(), shape: [n, 2], steps, x0 })
    expect(worstAbs(result.x, expected)).toBeLessThan(tolerance)
    for (const score of momentZScores(result.x, marginalAt(sde, correlated, t1))) expect(Math.abs(score)).toBeLessThan(5)
  })
})

describe("ODE solvers converge at their order (CPU oracle, float64)", () => {
  const few = 200
  const start = sampleGaussian(marginalAt(sde, correlated, sde.T), few, 9)
  const exact = flowMap(sde, correlated, sde.T, t1).apply(start)
  const errorAt = async (solver: Solver, steps: number) => {
    const result = await solve(probabilityFlow(sde, gaussianScore(sde, correlated)), solver, { backend: "cpu", shape: [few, 2], steps, x0: start })
    return worstAbs(result.x, exact)
  }

  test("Heun is second order: 4× the steps, ~16× smaller error", async () => {
    const ratio = (await errorAt(heun(), 100)) / (await errorAt(heun(), 400))
    expect(ratio).toBeGreaterThan(12)
    expect(ratio).toBeLessThan(20)
  })

  test("RK4 is fourth order: 2× the steps, ~16× smaller error", async () => {
    const ratio = (await errorAt(rk4(), 50)) / (await errorAt(rk4(), 100))
    expect(ratio).toBeGreaterThan(12)
    expect(ratio).toBeLessThan(24)
  })

  test("the adaptive solver's error follows its tolerance, and it takes more steps for a tighter one", async () => {
    const model = probabilityFlow(sde, gaussianScore(sde, correlated))
    const loose = await solve(model, adaptive({ rtol: 1e-3, atol: 1e-3 }), { backend: "cpu", shape: [few, 2], steps: 20, x0: start })
    const tight = await solve(model, adaptive({ rtol: 1e-6, atol: 1e-6 }), { backend: "cpu", shape: [few, 2], steps: 20, x0: start })
    expect(worstAbs(loose.x, exact)).toBeLessThan(1e-2)
    expect(worstAbs(tight.x, exact)).toBeLessThan(1e-4)
    expect(tight.steps).toBeGreaterThan(2 * loose.steps)
  })
})
