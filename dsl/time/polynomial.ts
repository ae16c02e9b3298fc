/** Polynomials in t as coefficient arrays (lowest degree first): recognition and exact calculus. */
import { dependsOnT, type TimeExpr } from "./expr.ts"
import { evaluate } from "./evaluate.ts"

/** Coefficients c₀, c₁, … of c₀ + c₁t + c₂t² + …; no trailing zeros (the zero polynomial is []). */
export type Poly = readonly number[]

/** Degrees above this are not treated as polynomials (keeps expansion and recognition cheap). */
export const maxDegree = 24

const trim = (p: number[]): Poly => {
  while (p.length > 0 && p[p.length - 1] === 0) p.pop()
  return p
}

/** p + q, with cancellation to within rounding snapped to an exact 0 (so t² − t² leaves no 1e-17·t²). */
export function polyAdd(p: Poly, q: Poly): Poly {
  const out: number[] = []
  for (let i = 0; i < Math.max(p.length, q.length); i++) {
    const a = p[i] ?? 0
    const b = q[i] ?? 0
    const s = a + b
    out.push(Math.abs(s) <= 4 * Number.EPSILON * (Math.abs(a) + Math.abs(b)) ? 0 : s)
  }
  return trim(out)
}

/** p·q. */
export function polyMul(p: Poly, q: Poly): Poly {
  if (p.length === 0 || q.length === 0) return []
  const out = new Array<number>(p.length + q.length - 1).fill(0)
  p.forEach((a, i) => q.forEach((b, j) => { out[i + j]! += a * b }))
  return trim(out)
}

/** c·p. */
export const polyScale = (p: Poly, c: number): Poly => trim(p.map((a) => a * c))

/** dp/dt. */
export const polyDerivative = (p: Poly): Poly => trim(p.slice(1).map((a, i) => a * (i + 1)))

/** The antiderivative with zero constant term. */
export const polyIntegral = (p: Poly): Poly => trim([0, ...p.map((a, i) => a / (i + 1))])

/** Degree (−1 for the zero polynomial). */
export const degree = (p: Poly): number => p.length - 1

const recognised = new WeakMap<TimeExpr, Poly | null>()

/** The coefficients of `e` if it is a polynomial in t of degree ≤ maxDegree, else undefined. */
export function asPolynomial(e: TimeExpr): Poly | undefined {
  let p = recognised.get(e)
  if (p === undefined) {
    p = recognise(e) ?? null
    recognised.set(e, p)
  }
  return p ?? undefined
}

function recognise(e: TimeExpr): Poly | undefined {
  if (!dependsOnT(e)) {
    const v = evaluate(e, 0)
    return Number.isFinite(v) ? trim([v]) : undefined
  }
  switch (e.kind) {
    case "t": return [0, 1]
    case "neg": {
      const a = asPolynomial(e.arg)
      return a && polyScale(a, -1)
    }
    case "add": {
      let acc: Poly = []
      for (const x of e.terms) {
        const q = asPolynomial(x)
        if (!q) return undefined
        acc = polyAdd(acc, q)
      }
      return acc
    }
    case "mul": {
      let acc: Poly = [1]
      for (const x of e.factors) {
        const q = asPolynomial(x)
        if (!q || degree(acc) + degree(q) > maxDegree) return undefined
        acc = polyMul(acc, q)
      }
      return acc
    }
    case "pow": {
      const b = asPolynomial(e.base)
      const n = e.exponent
      if (!b || !Number.isInteger(n) || n < 0 || degree(b) * n > maxDegree) return undefined
      let acc: Poly = [1]
      for (let i = 0; i < n; i++) acc = polyMul(acc, b)
      return acc
    }
    default: return undefined
  }
}
