/** Inverse functions of monotone time expressions: symbolic where simple rules apply, else a table. */
import { add, constant, dependsOnT, exp, log, mul, pow, recip, sqrt, t, table, type TimeExpr } from "./expr.ts"
import { evaluate } from "./evaluate.ts"
import { asPolynomial, degree } from "./polynomial.ts"
import { simplify, sumOf, productOf } from "./simplify.ts"

/**
 * Candidate inverses of y = e(t), as expressions in y (written `t`), peeled from the outside in:
 * y = c + h → h = y − c, y = c·h → h = y/c, y = exp h → h = log y, …, down to a polynomial of degree
 * ≤ 2 in t. A quadratic yields both roots; callers keep the one that round-trips on their interval.
 * Empty when t occurs in more than one place that the rules cannot collect.
 */
export function inverseCandidates(e: TimeExpr): TimeExpr[] {
  return peel(simplify(e), t).map(simplify)
}

function peel(e: TimeExpr, y: TimeExpr): TimeExpr[] {
  if (e.kind === "t") return [y]
  if (!dependsOnT(e)) return []
  const p = asPolynomial(e)
  if (p) return solvePolynomial(p, y)
  switch (e.kind) {
    case "add": case "mul": {
      const parts = e.kind === "add" ? e.terms : e.factors
      const varying = parts.filter(dependsOnT)
      if (varying.length !== 1) return []
      const fixed = parts.filter((x) => !dependsOnT(x))
      const inner = e.kind === "add"
        ? add(y, mul(constant(-1), sumOf(fixed)))
        : mul(y, recip(productOf(fixed)))
      return peel(varying[0]!, inner)
    }
    case "neg": return peel(e.arg, mul(constant(-1), y))
    case "recip": return peel(e.arg, recip(y))
    case "exp": return peel(e.arg, log(y))
    case "log": return peel(e.arg, exp(y))
    case "sqrt": return peel(e.arg, pow(y, 2))
    case "pow": return peel(e.base, pow(y, 1 / e.exponent))
    default: return []
  }
}

/** Roots of p(t) = y for degree 1 and 2 (the quadratic in the cancellation-free form). */
function solvePolynomial(p: readonly number[], y: TimeExpr): TimeExpr[] {
  const [c0 = 0, c1 = 0, c2 = 0] = p
  const shifted = add(y, constant(-c0)) // y − c₀
  if (degree(p) === 1) return [mul(shifted, constant(1 / c1))]
  if (degree(p) !== 2) return []
  // c₂t² + c₁t − (y − c₀) = 0;  q = −(c₁ + s·√(c₁² + 4c₂(y − c₀)))/2,  roots q/c₂ and −(y − c₀)/q.
  const s = c1 < 0 ? -1 : 1
  const root = sqrt(add(constant(c1 * c1), mul(constant(4 * c2), shifted)))
  const q = mul(constant(-0.5), add(constant(c1), mul(constant(s), root)))
  return [mul(q, constant(1 / c2)), mul(constant(-1), shifted, recip(q))]
}

/** Whether inverse(forward(x)) ≈ x at every point (relative 1e-7, plus a tiny absolute floor). */
export function roundTrips(forward: TimeExpr, inverse: TimeExpr, points: readonly number[]): boolean {
  return points.every((x) => {
    const back = evaluate(inverse, evaluate(forward, x))
    return Math.abs(back - x) <= 1e-7 * Math.abs(x) + 1e-12
  })
}

/**
 * The inverse of an increasing F on [lo, hi] as a table on [F(lo), F(hi)] (variable `t` = u). Each
 * grid value solves F(x) = u by Newton steps with slope F′, safeguarded by bisection on a bracket
 * taken from a dense forward grid (uniform plus log-spaced, so steep regions near lo are resolved).
 */
export function inverseTable(F: TimeExpr, slope: TimeExpr, lo: number, hi: number, points = 4097): TimeExpr {
  const grid = forwardGrid(lo, hi)
  const values = grid.map((x) => evaluate(F, x))
  const [u0, u1] = [values[0]!, values[values.length - 1]!]
  const inverse = new Float64Array(points)
  let j = 0
  for (let i = 0; i < points; i++) {
    const u = i === points - 1 ? u1 : u0 + ((u1 - u0) * i) / (points - 1)
    while (j < grid.length - 2 && values[j + 1]! < u) j++
    inverse[i] = solveIncreasing(F, slope, u, grid[j]!, grid[j + 1]!, values[j]!, values[j + 1]!)
  }
  inverse[0] = lo
  inverse[points - 1] = hi
  return table(u0, u1, inverse, t)
}

function forwardGrid(lo: number, hi: number): number[] {
  const n = 2048
  const xs = Array.from({ length: n + 1 }, (_, k) => lo + ((hi - lo) * k) / n)
  if (lo > 0) for (let k = 1; k < n; k++) xs.push(lo * Math.pow(hi / lo, k / n))
  return xs.sort((a, b) => a - b)
}

function solveIncreasing(
  F: TimeExpr, slope: TimeExpr, u: number, a: number, b: number, Fa: number, Fb: number,
): number {
  if (u <= Fa) return a
  if (u >= Fb) return b
  let [lo, hi] = [a, b]
  let x = a + ((b - a) * (u - Fa)) / (Fb - Fa)
  for (let iter = 0; iter < 60 && hi - lo > 1e-15 * Math.max(Math.abs(hi), 1e-300); iter++) {
    const r = evaluate(F, x) - u
    if (r === 0) return x
    if (r < 0) lo = x
    else hi = x
    const next = x - r / evaluate(slope, x)
    x = next > lo && next < hi ? next : 0.5 * (lo + hi)
  }
  return x
}
