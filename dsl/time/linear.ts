/**
 * Marginals of a linear SDE dx = f(t)·x dt + g(t) dW, derived symbolically from f and g:
 * m(t) = exp(∫₀ᵗ f),  v(t) = m(t)² ∫₀ᵗ g(s)²/m(s)² ds  (so x_t | x_0 ~ N(m(t)·x_0, v(t))).
 */
import { InvalidHorizon, NonPositiveVariance } from "./errors.ts"
import { constant, exp, mul, pow, sqrt, type TimeExpr, type TimeLike } from "./expr.ts"
import { evaluate } from "./evaluate.ts"
import { integrate, type IntegralMethod } from "./integrate.ts"
import { show } from "./show.ts"
import { simplify } from "./simplify.ts"

/** Drift coefficient f(t), diffusion g(t) and horizon T of a linear (Gaussian) SDE. */
export interface LinearSdeCoefficients {
  readonly f: TimeLike
  readonly g: TimeLike
  readonly T: number
  /** Allow quadrature tables where no closed form exists (default true). */
  readonly quadrature?: boolean
}

/** The derived marginal transition x_t | x_0 ~ N(meanWeight·x_0, variance). */
export interface LinearMarginals {
  readonly logMeanWeight: TimeExpr
  readonly meanWeight: TimeExpr
  readonly variance: TimeExpr
  readonly std: TimeExpr
  /** Whether each integral came out in closed form or as a table. */
  readonly method: { readonly logMeanWeight: IntegralMethod; readonly variance: IntegralMethod }
}

const lift = (x: TimeLike): TimeExpr => (typeof x === "number" ? constant(x) : x)

/** m(t), v(t), √v(t) and log m(t) on [0, T]; throws NonPositiveVariance if v ≤ 0 somewhere on (0, T]. */
export function linearMarginals(sde: LinearSdeCoefficients): LinearMarginals {
  const { T } = sde
  if (!(Number.isFinite(T) && T > 0)) {
    throw new InvalidHorizon({ message: `horizon T = ${T} must be finite and > 0`, eps: 0, T })
  }
  const options = { quadrature: sde.quadrature ?? true }
  const f = lift(sde.f)
  const g = lift(sde.g)
  const logMean = integrate(f, 0, T, options)
  const L = logMean.expr
  // ∫₀ᵗ g²/m² with m = e^L: the integrand g²·e^{−2L} keeps exp merged so VP's becomes β·e^{B}.
  const spread = integrate(simplify(mul(pow(g, 2), exp(mul(constant(-2), L)))), 0, T, options)
  const variance = simplify(mul(exp(mul(constant(2), L)), spread.expr))
  assertPositive(variance, T)
  return {
    logMeanWeight: L,
    meanWeight: simplify(exp(L)),
    variance,
    std: simplify(sqrt(variance)),
    method: { logMeanWeight: logMean.method, variance: spread.method },
  }
}

/** Checks v > 0 on a grid of (0, T] that is dense near 0, where a wrong sign shows first. */
function assertPositive(variance: TimeExpr, T: number): void {
  const points = [1e-4, 1e-3, 1e-2].map((a) => a * T)
  for (let k = 1; k <= 64; k++) points.push((T * k) / 64)
  for (const x of points) {
    const v = evaluate(variance, x)
    if (!(v > 0 && Number.isFinite(v))) {
      throw new NonPositiveVariance({
        message: `marginal variance ${show(variance)} is ${v} at t = ${x}; it must be > 0 on (0, ${T}]`,
        t: x, value: v, expression: show(variance),
      })
    }
  }
}
