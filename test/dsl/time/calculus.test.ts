import { describe, expect, test, setDefaultTimeout } from "bun:test"
import fc from "fast-check"
import {
  constant, derivative, evaluate, integrate, lerp, max, NotDifferentiable, NotIntegrable, show, simplify, t, table,
  type TimeExpr,
} from "../../../dsl/time/index.ts"
import { polynomial, polynomialTimesExponential, randomExpression, substitutionIntegrand } from "./arbitraries.ts"
import { grid, simpson } from "./numeric.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const at = fc.double({ min: 0.02, max: 0.98, noNaN: true })
const close = (got: number, want: number, rel: number) =>
  expect(Math.abs(got - want)).toBeLessThanOrEqual(rel * (1 + Math.abs(want)))

describe("derivative", () => {
  test("d/dt of the elementary functions", () => {
    expect(show(derivative(lerp(0.1, 20, t)))).toBe("19.9")
    expect(show(derivative(t.square().mul(3)))).toBe("6·t")
    expect(show(derivative(t.mul(2).exp()))).toBe("2·exp(2·t)")
    expect(show(derivative(t.log()))).toBe("1/t")
    expect(show(derivative(t.sin()))).toBe("cos(t)")
  })

  test("agrees with central finite differences on random expressions", () => {
    fc.assert(fc.property(randomExpression(2), at, (e: TimeExpr, x) => {
      const h = 1e-6
      const fd = (evaluate(e, x + h) - evaluate(e, x - h)) / (2 * h)
      if (!Number.isFinite(fd)) return
      close(evaluate(derivative(e), x), fd, 1e-5)
    }), { numRuns: 300 })
  })

  test("of a table is the slope of its interpolant", () => {
    const tab = table(0, 2, [0, 1, 4, 9, 16])
    expect(evaluate(derivative(tab), 1)).toBeCloseTo((9 - 1) / 1, 12)
    expect(evaluate(derivative(tab), 0)).toBeCloseTo(2, 12)
  })

  test("of max/min is a typed error naming the expression", () => {
    expect(() => derivative(max(t, 0.5))).toThrow(NotDifferentiable)
    expect(() => derivative(max(t, 0.5))).toThrow("max(t, 0.5)")
  })
})

/** ∫ in closed form, then checked two independent ways: F′ = integrand, and F(x) = Simpson ∫_a^x. */
function checkClosedForm(e: TimeExpr, x: number, lower = 0): void {
  const I = integrate(e, lower, 1, { quadrature: false })
  expect(I.method).toBe("closed-form")
  close(evaluate(derivative(I.expr), x), evaluate(e, x), 1e-7)
  close(evaluate(I.expr, x), simpson((s) => evaluate(e, s), lower, x, 1e-11), 1e-7)
}

describe("integrate", () => {
  test("polynomials integrate term by term in closed form", () => {
    fc.assert(fc.property(polynomial, at, (p, x) => checkClosedForm(p, x)), { numRuns: 200 })
  })

  test("polynomial × e^{at+b} integrates by parts in closed form", () => {
    fc.assert(fc.property(polynomialTimesExponential, at, (e, x) => checkClosedForm(e, x)), { numRuns: 200 })
  })

  test("c·h′·e^h, c·h′/h and c·h′·h^p integrate by substitution in closed form", () => {
    fc.assert(fc.property(substitutionIntegrand, at, (e, x) => checkClosedForm(e, x)), { numRuns: 200 })
  })

  test("sums of integrable pieces integrate by linearity", () => {
    fc.assert(fc.property(polynomialTimesExponential, substitutionIntegrand, at, (a, b, x) =>
      checkClosedForm(a.add(b), x)), { numRuns: 100 })
  })

  test("VP's importance integrand β/(1 − e^{−B}) integrates to log(e^B − 1)", () => {
    const B = t.mul(0.1).add(t.square().mul(9.95))
    const I = integrate(lerp(0.1, 20, t).div(constant(1).sub(B.neg().exp())), 1e-3, 1, { quadrature: false })
    expect(I.method).toBe("closed-form")
    expect(show(I.antiderivative!)).toBe("log(-1 + exp(0.1·t + 9.95·t²))")
  })

  test("the Gauss–Legendre table agrees with the closed form", () => {
    const e = simplify(lerp(0.1, 20, t).mul(t.mul(0.1).add(t.square().mul(9.95)).exp()))
    const exact = integrate(e, 0, 1)
    const table = integrate(e, 0, 1, { closedForm: false })
    expect([exact.method, table.method]).toEqual(["closed-form", "quadrature"])
    const h = 1 / 2048
    // At the nodes the 8-point Gauss–Legendre sums are exact to rounding…
    for (let k = 0; k <= 2048; k += 7) close(evaluate(table.expr, k * h), evaluate(exact.expr, k * h), 1e-12)
    // …and between them the interpolated running mean is accurate relative to F, even next to 0
    // (F = e^B − 1 grows 2·10⁴-fold over [0, 1]: h²·G″/8 is about 1e-5 of F near t = 1).
    for (const x of grid(1e-6, 1, 997)) {
      const want = evaluate(exact.expr, x)
      expect(Math.abs(evaluate(table.expr, x) - want)).toBeLessThanOrEqual(2e-5 * want)
    }
  })

  test("falls back to a quadrature table when no rule applies", () => {
    const e = t.square().exp() // ∫e^{t²} has no elementary antiderivative
    const I = integrate(e, 0, 1)
    expect(I.method).toBe("quadrature")
    expect(show(I.expr)).toBe("t·table[2049 on [0, 1]](t)")
    for (const x of [0.1, 0.5, 0.93, 1]) close(evaluate(I.expr, x), simpson((s) => Math.exp(s * s), 0, x), 1e-6)
  })

  test("a log-spaced table resolves a 1/t-like integrand next to a small lower limit", () => {
    const e = constant(1).div(t.add(t.square()).add(t.square().exp().mul(1e-9)))
    const I = integrate(e, 1e-4, 1)
    expect(I.method).toBe("quadrature")
    for (const x of grid(1e-4, 1, 9)) close(evaluate(I.expr, x), simpson((s) => evaluate(e, s), 1e-4, x, 1e-12), 1e-6)
  })

  test("an ill-conditioned closed form fails its derivative check and falls back to quadrature", () => {
    // ∫(1.53t⁴ − 0.19t³)·e^{0.1t} by parts has coefficients ~1.53·4!/0.1⁵ ≈ 4·10⁶ that cancel near 0.
    const e = t.pow(4).mul(1.53).sub(t.pow(3).mul(0.19)).mul(t.mul(0.1).exp())
    const I = integrate(e, 0, 1)
    expect(I.method).toBe("quadrature")
    for (const x of [0.02, 0.5, 1]) close(evaluate(I.expr, x), simpson((s) => evaluate(e, s), 0, x, 1e-13), 1e-9)
  })

  test("with quadrature off, a non-integrable expression is a typed error naming it", () => {
    const run = () => integrate(t.square().exp(), 0, 1, { quadrature: false })
    expect(run).toThrow(NotIntegrable)
    expect(run).toThrow("exp(t²)")
  })

  test("a divergent integral is a typed error, not a silent infinity", () => {
    expect(() => integrate(constant(1).div(t), 0, 1)).toThrow(NotIntegrable)
  })
})
