/** Symbolic d/dt of time expressions (tables: the finite-difference slope of their interpolant). */
import { NotDifferentiable } from "./errors.ts"
import { add, constant, cos, mul, neg, pow, recip, sin, sqrt, table, type TimeExpr } from "./expr.ts"
import { show } from "./show.ts"
import { simplify } from "./simplify.ts"

const derivatives = new WeakMap<TimeExpr, TimeExpr>()

/** d/dt of `e`, simplified. Throws NotDifferentiable for max/min (no step function to express the kink). */
export function derivative(e: TimeExpr): TimeExpr {
  let d = derivatives.get(e)
  if (d === undefined) {
    d = simplify(raw(simplify(e)))
    derivatives.set(e, d)
  }
  return d
}

function raw(e: TimeExpr): TimeExpr {
  switch (e.kind) {
    case "const": return constant(0)
    case "t": return constant(1)
    case "add": return add(...e.terms.map(raw))
    case "mul": // product rule over n factors
      return add(...e.factors.map((f, i) => mul(...e.factors.map((g, j) => (i === j ? raw(f) : g)))))
    case "neg": return neg(raw(e.arg))
    case "recip": return neg(mul(raw(e.arg), pow(e.arg, -2)))
    case "exp": return mul(raw(e.arg), e)
    case "log": return mul(raw(e.arg), recip(e.arg))
    case "sqrt": return mul(raw(e.arg), recip(mul(constant(2), sqrt(e.arg))))
    case "pow": return mul(constant(e.exponent), pow(e.base, e.exponent - 1), raw(e.base))
    case "sin": return mul(raw(e.arg), cos(e.arg))
    case "cos": return neg(mul(raw(e.arg), sin(e.arg)))
    case "table": return mul(slopeTable(e.t0, e.t1, e.values, e.at), raw(e.at))
    case "max": case "min":
      throw new NotDifferentiable({
        message: `d/dt of ${show(e)}: ${e.kind} has no symbolic derivative (its kink needs a step function)`,
        expression: show(e),
      })
  }
}

/** Slopes at the grid points: central differences inside, one-sided at the ends. */
function slopeTable(t0: number, t1: number, values: Float64Array, at: TimeExpr): TimeExpr {
  const n = values.length
  const h = (t1 - t0) / (n - 1)
  const slopes = Float64Array.from({ length: n }, (_, i) => {
    const lo = Math.max(i - 1, 0)
    const hi = Math.min(i + 1, n - 1)
    return (values[hi]! - values[lo]!) / ((hi - lo) * h)
  })
  return table(t0, t1, slopes, at)
}
