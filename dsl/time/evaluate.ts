/** float64 reference evaluation of a time expression: the oracle every backend is compared with. */
import type { TimeExpr } from "./expr.ts"

/** The value of `e` at time `t` (NaN/∞ propagate as IEEE arithmetic does; tables clamp at their ends). */
export function evaluate(e: TimeExpr, t: number): number {
  switch (e.kind) {
    case "const": return e.value
    case "t": return t
    case "add": {
      let s = 0
      for (const x of e.terms) s += evaluate(x, t)
      return s
    }
    case "mul": {
      let p = 1
      for (const x of e.factors) p *= evaluate(x, t)
      return p
    }
    case "neg": return -evaluate(e.arg, t)
    case "recip": return 1 / evaluate(e.arg, t)
    case "exp": return Math.exp(evaluate(e.arg, t))
    case "log": return Math.log(evaluate(e.arg, t))
    case "sqrt": return Math.sqrt(evaluate(e.arg, t))
    case "sin": return Math.sin(evaluate(e.arg, t))
    case "cos": return Math.cos(evaluate(e.arg, t))
    case "pow": return Math.pow(evaluate(e.base, t), e.exponent)
    case "max": return Math.max(evaluate(e.a, t), evaluate(e.b, t))
    case "min": return Math.min(evaluate(e.a, t), evaluate(e.b, t))
    case "table": return interpolate(e.t0, e.t1, e.values, evaluate(e.at, t))
  }
}

/** Linear interpolation on a uniform grid, clamped to the end values (the rule kernels must follow). */
export function interpolate(t0: number, t1: number, values: Float64Array, x: number): number {
  const last = values.length - 1
  if (Number.isNaN(x)) return NaN
  if (x <= t0) return values[0]!
  if (x >= t1) return values[last]!
  const pos = ((x - t0) / (t1 - t0)) * last
  const i = Math.min(Math.floor(pos), last - 1)
  const frac = pos - i
  return values[i]! + (values[i + 1]! - values[i]!) * frac
}

/** `evaluate` mapped over many times. */
export const evaluateAt = (e: TimeExpr, ts: ArrayLike<number>): Float64Array =>
  Float64Array.from({ length: ts.length }, (_, i) => evaluate(e, ts[i]!))
