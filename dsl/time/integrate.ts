/**
 * ∫_lower^t of a time expression: closed form where a small set of rules finds one, else a
 * Gauss–Legendre table. Every closed-form candidate is checked by differentiating it and comparing
 * with the integrand at sample points, so a rule can only ever propose, never silently be wrong.
 */
import { NotIntegrable } from "./errors.ts"
import { constant, cos, dependsOnT, log, mul, sin, t, table, type TimeExpr, type TimeLike } from "./expr.ts"
import { evaluate } from "./evaluate.ts"
import { derivative } from "./derivative.ts"
import { asPolynomial, degree, polyDerivative, polyIntegral, polyScale, polyAdd, type Poly } from "./polynomial.ts"
import { cumulativeIntegral } from "./quadrature.ts"
import { show } from "./show.ts"
import { asPower, expand, expOf, logOf, polynomialOf, powerOf, productOf, simplify, splitCoefficient, sumOf } from "./simplify.ts"

/** How ∫ was obtained. */
export type IntegralMethod = "closed-form" | "quadrature"

/** Options of `integrate`. */
export interface IntegrateOptions {
  /** Fall back to a quadrature table when no closed form is found (default true). */
  readonly quadrature?: boolean
  /** Try closed forms first (default true; false forces the table, e.g. to cross-check). */
  readonly closedForm?: boolean
  /** Gauss–Legendre panels of 8 nodes for the table (default 2048: linear interpolation error ~1e-7·F″). */
  readonly panels?: number
}

/** ∫_lower^t integrand(s) ds as an expression of the upper limit t. */
export interface Integral {
  readonly expr: TimeExpr
  readonly method: IntegralMethod
  /** F with F′ = integrand (closed form only); expr = F(t) − F(lower). */
  readonly antiderivative?: TimeExpr
  readonly lower: number
  readonly upper?: number
}

/** ∫_lower^t integrand; `upper` bounds the quadrature table (and the points where candidates are checked). */
export function integrate(integrand: TimeLike, lower: number, upper?: number, options: IntegrateOptions = {}): Integral {
  const e = simplify(typeof integrand === "number" ? constant(integrand) : integrand)
  const fail = (why: string) => new NotIntegrable({ message: `cannot integrate ${show(e)}: ${why}`, expression: show(e) })
  if (!Number.isFinite(lower) || (upper !== undefined && !(Number.isFinite(upper) && upper > lower))) {
    throw fail(`limits [${lower}, ${upper}] must be finite with lower < upper`)
  }
  const points = samplePoints(lower, upper ?? lower + 1)
  if (options.closedForm !== false) {
    const F = antiderivative(e, points, 0)
    if (F && verifies(F, e, points)) {
      const atLower = evaluate(F, lower)
      if (!Number.isFinite(atLower)) throw fail(`the integral diverges at the lower limit ${lower} (F = ${show(F)})`)
      return { expr: simplify(sumOf([F, constant(-atLower)])), method: "closed-form", antiderivative: F, lower, upper }
    }
  }
  if (options.quadrature === false) throw fail("no closed form found and quadrature is off")
  if (upper === undefined) throw fail("no closed form found, and quadrature needs an upper limit")
  return { expr: tabulate(e, lower, upper, options.panels ?? 2048, fail), method: "quadrature", lower, upper }
}

/**
 * Cumulative Gauss–Legendre table. On a uniform grid it stores the running mean G(t) = F(t)/(t − lower)
 * and returns (t − lower)·G: F itself, linearly interpolated, has a relative error ~F″h/F′ next to the
 * lower limit (0.1% for an OU variance at t = 10⁻³), while G's is ~h²G″/G everywhere. When the range
 * spans decades above a positive lower limit (an ε-truncated integral of something like 1/t) the grid
 * is instead uniform in log t, where such an F is close to linear.
 */
function tabulate(e: TimeExpr, lower: number, upper: number, panels: number, fail: (why: string) => Error): TimeExpr {
  const logGrid = lower > 0 && upper / lower >= 64
  const values = logGrid
    ? cumulativeIntegral((s) => evaluate(e, Math.exp(s)) * Math.exp(s), Math.log(lower), Math.log(upper), panels)
    : cumulativeIntegral((x) => evaluate(e, x), lower, upper, panels)
  if (!values.every(Number.isFinite)) throw fail(`the integrand is not finite somewhere on [${lower}, ${upper}]`)
  if (logGrid) return table(Math.log(lower), Math.log(upper), values, log(t))
  const h = (upper - lower) / panels
  const mean = values.map((F, k) => F / (k * h))
  const start = evaluate(e, lower) // G(lower) = f(lower); extrapolate when f is singular there
  mean[0] = Number.isFinite(start) ? start : 2 * mean[1]! - mean[2]!
  return mul(sumOf([t, constant(-lower)]), table(lower, upper, mean, t))
}

/** Endpoints, a uniform grid and an offset grid (so a symmetric cancellation cannot fool the check). */
function samplePoints(a: number, b: number): number[] {
  const n = 12
  const pts = Array.from({ length: n + 1 }, (_, k) => a + ((b - a) * k) / n)
  for (let k = 0; k < n; k++) pts.push(a + ((b - a) * (k + 0.381966)) / n)
  return pts
}

/** Whether F′ equals e at the sample points where e is finite (at least five of them). */
function verifies(F: TimeExpr, e: TimeExpr, points: readonly number[]): boolean {
  let dF: TimeExpr
  try { dF = derivative(F) } catch { return false }
  const pairs = points.map((x) => [evaluate(e, x), evaluate(dF, x), evaluate(F, x)] as const)
    .filter(([want]) => Number.isFinite(want))
  const scale = Math.max(...pairs.map(([want]) => Math.abs(want)), 0)
  return pairs.length >= 5 && pairs.every(([want, got, value]) =>
    Number.isFinite(value) && Math.abs(got - want) <= 1e-7 * Math.abs(want) + 1e-10 * scale)
}

/** The constant c with numerator = c·denominator on the sample points, if there is one. */
function constantRatio(numerator: TimeExpr, denominator: TimeExpr, points: readonly number[]): number | undefined {
  const symbolic = simplify(mul(numerator, powerOf(denominator, -1)))
  if (symbolic.kind === "const") return symbolic.value
  // Compare numerator with c·denominator, not the pointwise ratios: near a zero of the
  // denominator (h′ changing sign) a ratio of two rounded values is meaningless.
  const pairs = points.map((x) => [evaluate(numerator, x), evaluate(denominator, x)] as const)
    .filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b))
  if (pairs.length < 5) return undefined
  const [a, b] = pairs.reduce((best, pair) => (Math.abs(pair[1]) > Math.abs(best[1]) ? pair : best))
  if (b === 0) return undefined
  const c = a / b
  const scale = Math.max(...pairs.map(([n]) => Math.abs(n)))
  return pairs.every(([n, d]) => Math.abs(n - c * d) <= 1e-9 * scale) ? c : undefined
}

function antiderivative(e: TimeExpr, points: readonly number[], depth: number): TimeExpr | undefined {
  if (depth > 6) return undefined
  if (!dependsOnT(e)) return productOf([e, t])
  const p = asPolynomial(e)
  if (p) return polynomialOf(polyIntegral(p))
  if (e.kind === "add") {
    const parts = e.terms.map((x) => antiderivative(x, points, depth + 1))
    if (parts.every((x) => x !== undefined)) return sumOf(parts as TimeExpr[])
  }
  // Whole-integrand rules first, so a coefficient folds into the matched ratio (log, not 1·log).
  const found = polynomialTimesExponential(e) ?? bySubstitution(e, points)
  if (found && verifies(found, e, points)) return found
  const [c, body] = splitCoefficient(e)
  if (c !== 1) {
    const F = antiderivative(body, points, depth + 1)
    return F && productOf([constant(c), F])
  }
  const expanded = expand(e)
  return expanded !== e && expanded.kind === "add" ? antiderivative(expanded, points, depth + 1) : undefined
}

/** ∫ p(t)·e^{at+b} = e^{at+b}·Σₖ (−1)ᵏ p⁽ᵏ⁾(t)/aᵏ⁺¹ (repeated integration by parts). */
function polynomialTimesExponential(e: TimeExpr): TimeExpr | undefined {
  const factors = e.kind === "mul" ? e.factors : [e]
  const exps = factors.filter((f) => f.kind === "exp")
  const linear = exps.length === 1 && exps[0]!.kind === "exp" ? asPolynomial(exps[0]!.arg) : undefined
  if (!linear || degree(linear) !== 1) return undefined
  const rest = factors.filter((f) => f.kind !== "exp")
  const p = rest.length === 0 ? [1] : asPolynomial(productOf(rest))
  if (!p) return undefined
  const a = linear[1]!
  let q: Poly = []
  let dk: Poly = p
  for (let k = 0; dk.length > 0; k++) {
    q = polyAdd(q, polyScale(dk, (k % 2 === 0 ? 1 : -1) / Math.pow(a, k + 1)))
    dk = polyDerivative(dk)
  }
  return productOf([polynomialOf(q), exps[0]!])
}

/** Outer functions φ with a known ∫h′·φ(h) = Φ(h): [h, Φ(h)] for one factor, or undefined. */
function outerForms(factor: TimeExpr, points: readonly number[]): [TimeExpr, TimeExpr] | undefined {
  switch (factor.kind) {
    case "exp": return [factor.arg, factor]
    case "sin": return [factor.arg, simplify(mul(constant(-1), cos(factor.arg)))]
    case "cos": return [factor.arg, sin(factor.arg)]
    case "log": return [factor.arg, simplify(sumOf([productOf([factor.arg, factor]), productOf([constant(-1), factor.arg])]))]
  }
  const [h, p] = asPower(factor)
  if (p !== -1) return [h, productOf([constant(1 / (p + 1)), powerOf(h, p + 1)])]
  // ∫h′/h = log|h|: pick the sign h keeps on the interval (none if it changes sign). A zero of h at
  // a limit is allowed here; the definite integral then reports the divergence there.
  const values = points.map((x) => evaluate(h, x)).filter((v) => Number.isFinite(v) && v !== 0)
  if (values.every((v) => v > 0)) return [h, logOf(h)]
  if (values.every((v) => v < 0)) return [h, logOf(productOf([constant(-1), h]))]
  return undefined
}

/**
 * c·h′·φ(h) → c·Φ(h) for each factor φ(h) of the integrand. A power of a sum containing e^u is also
 * tried as (h·e^{−u})^p·e^{pu}: that is how β/(1 − e^{−B}) = β·e^B/(e^B − 1) becomes h′/h.
 */
function bySubstitution(e: TimeExpr, points: readonly number[]): TimeExpr | undefined {
  const factors = e.kind === "mul" ? e.factors : [e]
  for (let i = 0; i < factors.length; i++) {
    const factor = factors[i]!
    if (!dependsOnT(factor)) continue
    const rest = productOf(factors.filter((_, j) => j !== i))
    const direct = matchOuter(factor, rest, e, points)
    if (direct) return direct
    const [h, p] = asPower(factor)
    if (h.kind !== "add") continue
    for (const term of h.terms) {
      const [, body] = splitCoefficient(term)
      if (body.kind !== "exp") continue
      const u = body.arg
      const normalised = expand(productOf([h, expOf(simplify(mul(constant(-1), u)))]))
      const moved = productOf([rest, expOf(simplify(mul(constant(p), u)))])
      const found = matchOuter(powerOf(normalised, p), moved, e, points)
      if (found) return found
    }
  }
  return undefined
}

function matchOuter(factor: TimeExpr, rest: TimeExpr, e: TimeExpr, points: readonly number[]): TimeExpr | undefined {
  const form = outerForms(factor, points)
  if (!form) return undefined
  const [h, Phi] = form
  const ratio = constantRatio(rest, derivative(h), points)
  if (ratio === undefined || ratio === 0) return undefined
  const c = snapToSimpleFraction(ratio)
  const candidate = productOf([constant(c), Phi])
  return verifies(candidate, e, points) ? candidate : undefined
}

/** A ratio within rounding of p/q (q ≤ 12) becomes exactly p/q, so "1·log(…)" prints as "log(…)". */
function snapToSimpleFraction(x: number): number {
  for (let q = 1; q <= 12; q++) {
    const p = Math.round(x * q)
    if (Math.abs(x - p / q) <= 1e-12 * Math.abs(x)) return p / q
  }
  return x
}
