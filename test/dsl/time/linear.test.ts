import { describe, expect, test, setDefaultTimeout } from "bun:test"
import {
  constant, evaluate, InvalidHorizon, lerp, linearMarginals, NonPositiveVariance, show, t, type TimeExpr,
} from "../../../dsl/time/index.ts"
import { grid, simpson } from "./numeric.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const [beta0, beta1] = [0.1, 20]
const beta = lerp(beta0, beta1, t)
/** ∫₀ᵗ β = β₀t + ½(β₁ − β₀)t², written out by hand as the reference. */
const integratedBeta = (x: number) => beta0 * x + 0.5 * (beta1 - beta0) * x * x
const times = grid(1e-5, 1, 200)

function expectMatches(derived: TimeExpr, reference: (x: number) => number, tolerance: (want: number) => number) {
  for (const x of times) {
    const want = reference(x)
    expect(Math.abs(evaluate(derived, x) - want)).toBeLessThanOrEqual(tolerance(want))
  }
}
const absolute = () => 1e-6
const relative = (want: number) => 1e-6 * Math.abs(want)

describe("linear SDE marginals", () => {
  test("VP: m(t) = exp(−¼t²(β₁−β₀) − ½tβ₀) and v(t) = 1 − exp(−½t²(β₁−β₀) − tβ₀), in closed form", () => {
    const vp = linearMarginals({ f: beta.mul(-0.5), g: beta.sqrt(), T: 1 })
    expect(vp.method).toEqual({ logMeanWeight: "closed-form", variance: "closed-form" })
    expectMatches(vp.meanWeight, (x) => Math.exp(-0.25 * x * x * (beta1 - beta0) - 0.5 * x * beta0), absolute)
    expectMatches(vp.variance, (x) => 1 - Math.exp(-integratedBeta(x)), absolute)
    // Small t is where a wrong variance hides behind the absolute tolerance: check it relatively too.
    expectMatches(vp.variance, (x) => -Math.expm1(-integratedBeta(x)), relative)
    expectMatches(vp.std, (x) => Math.sqrt(-Math.expm1(-integratedBeta(x))), relative)
    expect(show(vp.variance)).toBe("1 - exp(-0.1·t - 9.95·t²)")
  })

  test("subVP: v(t) = (1 − exp(−∫β))², in closed form", () => {
    const B = t.mul(beta0).add(t.square().mul(0.5 * (beta1 - beta0)))
    const g = beta.mul(constant(1).sub(B.mul(-2).exp())).sqrt()
    const subvp = linearMarginals({ f: beta.mul(-0.5), g, T: 1 })
    expect(subvp.method.variance).toBe("closed-form")
    expectMatches(subvp.variance, (x) => Math.pow(-Math.expm1(-integratedBeta(x)), 2), absolute)
    // Expanded, 1 − 2e^{−B} + e^{−2B} cancels catastrophically below t ≈ 1e-3; above, it is accurate.
    for (const x of grid(1e-3, 1, 50)) {
      const want = Math.pow(-Math.expm1(-integratedBeta(x)), 2)
      expect(Math.abs(evaluate(subvp.variance, x) - want)).toBeLessThanOrEqual(1e-6 * want)
    }
  })

  test("VE: v(t) = σ_min²((σ_max/σ_min)^{2t} − 1) with a mean weight of exactly 1", () => {
    const [sMin, sMax] = [0.01, 50]
    const g = constant(sMin).mul(constant(sMax / sMin).pow(t)).mul(Math.sqrt(2 * Math.log(sMax / sMin)))
    const ve = linearMarginals({ f: 0, g, T: 1 })
    expect(ve.meanWeight).toBe(constant(1))
    expect(ve.method.variance).toBe("closed-form")
    expectMatches(ve.variance, (x) => sMin * sMin * Math.expm1(2 * x * Math.log(sMax / sMin)), relative)
  })

  test("an OU process with g = 1 + sin t needs quadrature and still matches an independent integral", () => {
    const g = constant(1).add(t.sin())
    const ou = linearMarginals({ f: -1, g, T: 1 })
    expect(ou.method).toEqual({ logMeanWeight: "closed-form", variance: "quadrature" })
    const reference = (x: number) =>
      Math.exp(-2 * x) * simpson((s) => Math.pow(1 + Math.sin(s), 2) * Math.exp(2 * s), 0, x, 1e-13)
    for (const x of grid(0.01, 1, 40)) {
      const want = reference(x)
      expect(Math.abs(evaluate(ou.variance, x) - want)).toBeLessThanOrEqual(1e-6 * want)
    }
  })

  test("a zero diffusion gives a typed error naming the variance", () => {
    const run = () => linearMarginals({ f: -1, g: 0, T: 1 })
    expect(run).toThrow(NonPositiveVariance)
    expect(run).toThrow("marginal variance 0 is 0")
  })

  test("a non-positive horizon is a typed error", () => {
    expect(() => linearMarginals({ f: 0, g: 1, T: 0 })).toThrow(InvalidHorizon)
  })
})
