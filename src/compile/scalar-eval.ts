/**
 * Reference semantics of every scalar op in float64 — the definition both backends implement.
 * Used for constant folding here and, rendered as JS, by the CPU oracle.
 */
import type { BinaryOp, UnaryOp } from "../ir/node.ts"

/** erf by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7): the same formula the WGSL uses. */
export const erf = (x: number): number => {
  const s = Math.sign(x)
  const a = Math.abs(x)
  const t = 1 / (1 + 0.3275911 * a)
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
  return s * (1 - poly * Math.exp(-a * a))
}

/** x^y, defined for negative x when y is an integer (WGSL's pow is not). */
export const pow = (x: number, y: number): number => {
  if (x > 0) return Math.pow(x, y)
  if (x === 0) return y > 0 ? 0 : y === 0 ? 1 : Infinity
  if (!Number.isInteger(y)) return NaN
  const m = Math.pow(-x, y)
  return y % 2 === 0 ? m : -m
}

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x))
export const softplus = (x: number): number => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)))

export const evalUnary = (fn: UnaryOp, x: number): number => {
  switch (fn) {
    case "neg": return -x
    case "abs": return Math.abs(x)
    case "exp": return Math.exp(x)
    case "log": return Math.log(x)
    case "log1p": return Math.log1p(x)
    case "expm1": return Math.expm1(x)
    case "sqrt": return Math.sqrt(x)
    case "rsqrt": return 1 / Math.sqrt(x)
    case "sin": return Math.sin(x)
    case "cos": return Math.cos(x)
    case "tanh": return Math.tanh(x)
    case "sigmoid": return sigmoid(x)
    case "silu": return x * sigmoid(x)
    case "softplus": return softplus(x)
    case "erf": return erf(x)
    case "square": return x * x
    case "reciprocal": return 1 / x
    case "floor": return Math.floor(x)
    case "sign": return Math.sign(x)
    case "not": return x ? 0 : 1
  }
}

export const evalBinary = (fn: BinaryOp | "idiv" | "mod", x: number, y: number): number => {
  switch (fn) {
    case "add": return x + y
    case "sub": return x - y
    case "mul": return x * y
    case "div": return x / y
    case "pow": return pow(x, y)
    case "max": return Math.max(x, y)
    case "min": return Math.min(x, y)
    case "lt": return Number(x < y)
    case "le": return Number(x <= y)
    case "gt": return Number(x > y)
    case "ge": return Number(x >= y)
    case "eq": return Number(x === y)
    case "ne": return Number(x !== y)
    case "and": return Number(Boolean(x) && Boolean(y))
    case "or": return Number(Boolean(x) || Boolean(y))
    case "idiv": return Math.trunc(x / y)
    case "mod": return x % y
  }
}
