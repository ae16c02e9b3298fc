/** fast-check generators of time expressions for the property tests. */
import fc from "fast-check"
import { constant, derivative, t, type TimeExpr } from "../../../dsl/time/index.ts"

// Coefficients on a 0.01 grid: random doubles would include denormals, which no rule should be judged on.
const coefficient = fc.integer({ min: -300, max: 300 }).map((k) => k / 100)
const positiveCoefficient = fc.integer({ min: 0, max: 300 }).map((k) => k / 100)

/** Σ cₖ·tᵏ with 1–5 coefficients. */
export const polynomial = fc.array(coefficient, { minLength: 1, maxLength: 5 }).map((cs) =>
  cs.reduce<TimeExpr>((acc, c, k) => acc.add(constant(c).mul(t.pow(k))), constant(0)))

/** 1 + a·t + b·t² with a, b ≥ 0: positive on t ≥ 0, so logs and fractional powers are defined. */
export const positivePolynomial = fc.tuple(positiveCoefficient, positiveCoefficient).map(([a, b]) =>
  constant(1).add(t.mul(a)).add(t.square().mul(b)))

/**
 * p(t)·e^{at+b} with |a| ≥ 0.5: for smaller |a| the by-parts closed form (coefficients ~ 1/a^{deg+1})
 * cancels catastrophically, the derivative check rejects it, and integrate falls back to quadrature.
 */
export const polynomialTimesExponential = fc.tuple(
  polynomial, fc.double({ min: 0.5, max: 3, noNaN: true }), fc.boolean(), fc.double({ min: -1, max: 1, noNaN: true }),
).map(([p, a, flip, b]) => p.mul(t.mul(flip ? -a : a).add(b).exp()))

/** Integrands that need a substitution: c·h′·e^h, c·h′/h and c·h′·h^p for a random inner h. */
export const substitutionIntegrand = fc.tuple(
  polynomial, positivePolynomial, coefficient, fc.constantFrom(-2.5, -1, -0.5, 0.5, 2), fc.integer({ min: 0, max: 2 }),
).map(([p, h, c, power, form]): TimeExpr => {
  const inner = p.mul(0.3) // keeps e^h moderate on [0, 1]
  if (form === 0) return constant(c).mul(derivative(inner)).mul(inner.exp())
  if (form === 1) return constant(c).mul(derivative(h)).div(h)
  return constant(c).mul(derivative(h)).mul(h.pow(power))
})

/** Random expressions over every differentiable kind, kept in-domain (logs and roots of 1 + x²). */
export function randomExpression(depth: number): fc.Arbitrary<TimeExpr> {
  const leaf = fc.oneof(fc.constant(t), coefficient.map((c) => constant(c)))
  if (depth <= 0) return leaf
  const sub = randomExpression(depth - 1)
  const positive = sub.map((e) => constant(1).add(e.square()))
  return fc.oneof(
    leaf,
    fc.tuple(sub, sub).map(([a, b]) => a.add(b)),
    fc.tuple(sub, sub).map(([a, b]) => a.mul(b)),
    fc.tuple(sub, sub).map(([a, b]) => a.sub(b)),
    sub.map((e) => e.sin().exp()),
    sub.map((e) => e.cos()),
    positive.map((e) => e.log()),
    positive.map((e) => e.sqrt()),
    positive.map((e) => constant(1).div(e)),
    fc.tuple(positive, fc.constantFrom(-1.5, 0.5, 2, 3)).map(([e, p]) => e.pow(p)),
  )
}
