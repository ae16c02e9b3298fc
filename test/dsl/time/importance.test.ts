import { describe, expect, test, setDefaultTimeout } from "bun:test"
import {
  constant, evaluate, importanceDensity, ImproperDensity, InvalidHorizon, lerp, linearMarginals, t,
  type ImportanceDensity, type TimeExpr,
} from "../../../dsl/time/index.ts"
import { grid, ksCritical, ksStatistic, simpson, uniforms } from "./numeric.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const [beta0, beta1, eps] = [0.1, 20, 1e-3]
const beta = lerp(beta0, beta1, t)
const vp = linearMarginals({ f: beta.mul(-0.5), g: beta.sqrt(), T: 1 })
const vpSampler = importanceDensity({ g: beta.sqrt(), variance: vp.variance, eps, T: 1 })

const [sMin, sMax] = [0.01, 50]
const veG = constant(sMin).mul(constant(sMax / sMin).pow(t)).mul(Math.sqrt(2 * Math.log(sMax / sMin)))
const veSampler = importanceDensity({ g: veG, variance: linearMarginals({ f: 0, g: veG, T: 1 }).variance, eps, T: 1 })

const ouG = constant(1).add(t.sin())
const ouSampler = importanceDensity({ g: ouG, variance: linearMarginals({ f: -1, g: ouG, T: 1 }).variance, eps, T: 1 })

const n = 100_000
const sample = (q: ImportanceDensity, seed: number) => uniforms(seed, n).map((u) => evaluate(q.inverseCdf, u))
const cdfOf = (e: TimeExpr) => (x: number) => evaluate(e, x)

describe("importance density of t, q(t) ∝ g²/σ² flat below ε", () => {
  test("VP: Z = ε·w(ε) + ∫_ε^1 w ≈ 20.2559, with everything in closed form", () => {
    expect(vpSampler.Z).toBeCloseTo(20.2559, 4)
    const w = (x: number) => (beta0 + (beta1 - beta0) * x) / -Math.expm1(-(beta0 * x + 0.5 * (beta1 - beta0) * x * x))
    expect(vpSampler.Z).toBeCloseTo(eps * w(eps) + simpson(w, eps, 1, 1e-12), 9)
    expect(vpSampler.method).toEqual({ cdf: "closed-form", inverseCdf: "closed-form" })
  })

  test("the density is flat below ε and integrates to 1 over [0, T]", () => {
    for (const q of [vpSampler, veSampler, ouSampler]) {
      expect(evaluate(q.density, eps / 3)).toBe(evaluate(q.density, eps))
      const mass = simpson(cdfOf(q.density), 0, eps) + simpson(cdfOf(q.density), eps, 1, 1e-11)
      expect(mass).toBeCloseTo(1, 6)
    }
  })

  test("the CDF is the integral of the density", () => {
    for (const q of [vpSampler, veSampler, ouSampler]) {
      for (const x of grid(1e-4, 1, 12)) {
        const below = simpson(cdfOf(q.density), 0, Math.min(x, eps))
        const above = x > eps ? simpson(cdfOf(q.density), eps, x, 1e-12) : 0
        expect(evaluate(q.cdf, x)).toBeCloseTo(below + above, 5)
      }
    }
  })

  test("VP's inverse CDF equals the hand-derived closed form", () => {
    const { Z } = vpSampler
    const B = (x: number) => beta0 * x + 0.5 * (beta1 - beta0) * x * x
    const G = (x: number) => Math.log(Math.expm1(B(x))) // ∫β/(1 − e^{−B}) = log(e^B − 1)
    const wEps = (beta0 + (beta1 - beta0) * eps) / -Math.expm1(-B(eps))
    const u0 = (eps * wEps) / Z
    const inverse = (u: number) => {
      if (u < u0) return (u * Z) / wEps
      const b = Math.log1p(Math.exp(u * Z - eps * wEps + G(eps))) // B(t) for this u
      return (2 * b) / (beta0 + Math.sqrt(beta0 * beta0 + 2 * (beta1 - beta0) * b))
    }
    for (const u of [...grid(1e-6, 1, 300), 0.5 * u0, u0]) {
      const want = inverse(u)
      expect(Math.abs(evaluate(vpSampler.inverseCdf, u) - want)).toBeLessThanOrEqual(1e-9 * want)
    }
  })

  test("VE's sampler is closed form; the quadrature OU's is a table", () => {
    expect(veSampler.method).toEqual({ cdf: "closed-form", inverseCdf: "closed-form" })
    expect(ouSampler.method).toEqual({ cdf: "quadrature", inverseCdf: "table" })
  })

  test("inverse-CDF samples pass a KS test against the derived CDF (VP, VE, quadrature OU)", () => {
    const cases: [string, ImportanceDensity][] = [["VP", vpSampler], ["VE", veSampler], ["OU", ouSampler]]
    for (const [name, q] of cases) {
      const d = ksStatistic(sample(q, 17), cdfOf(q.cdf))
      expect({ name, pass: d < ksCritical(n) }).toEqual({ name, pass: true })
    }
  })

  test("the KS test can fail: VP samples are rejected under VE's CDF", () => {
    expect(ksStatistic(sample(vpSampler, 17), cdfOf(veSampler.cdf))).toBeGreaterThan(10 * ksCritical(n))
  })

  test("T ≤ ε is a typed error naming both", () => {
    const run = () => importanceDensity({ g: beta.sqrt(), variance: vp.variance, eps: 0.5, T: 0.5 })
    expect(run).toThrow(InvalidHorizon)
    expect(run).toThrow("need 0 < ε < T, got ε = 0.5, T = 0.5")
  })

  test("a variance that goes negative is a typed error naming the weight g²/v", () => {
    const run = () => importanceDensity({ g: 1, variance: t.sub(0.5), eps, T: 1 })
    expect(run).toThrow(ImproperDensity)
    expect(run).toThrow("1/(-0.5 + t)")
  })
})
