/**
 * Time expressions → graph ops. A TimeExpr is evaluated elementwise on a tensor of times: a scalar
 * uniform `t` (a solver step) or one time per sample (a training batch), fused into the consumer.
 */
import type { TimeExpr } from "./time/index.ts"
import { constant, gather, tensorData, type Tensor } from "../src/ir/tensor.ts"

/** `expr` evaluated at the times `t` (any shape), as graph nodes. */
export const timeToTensor = (expr: TimeExpr, t: Tensor): Tensor => {
  const memo = new Map<number, Tensor>()
  const lower = (e: TimeExpr): Tensor => {
    const hit = memo.get(e.id)
    if (hit) return hit
    const out = lowerNode(e)
    memo.set(e.id, out)
    return out
  }
  const lowerNode = (e: TimeExpr): Tensor => {
    switch (e.kind) {
      case "const": return constant(e.value).broadcastTo(t.shape)
      case "t": return t
      case "add": return stableAdd(e) ?? e.terms.map(lower).reduce((a, b) => a.add(b))
      case "mul": return e.factors.map(lower).reduce((a, b) => a.mul(b))
      case "neg": return lower(e.arg).neg()
      case "recip": return lower(e.arg).reciprocal()
      case "exp": return lower(e.arg).exp()
      case "log": {
        // log(1 + eˣ) = softplus(x): no overflow for large x, no lost digits for very negative x.
        const x = e.arg.kind === "add" ? onePlusExp(e.arg) : undefined
        return x ? lower(x).softplus() : lower(e.arg).log()
      }
      case "sqrt": return lower(e.arg).sqrt()
      case "sin": return lower(e.arg).sin()
      case "cos": return lower(e.arg).cos()
      case "pow": return e.exponent === 2 ? lower(e.base).square() : e.exponent === -1 ? lower(e.base).reciprocal() : lower(e.base).pow(e.exponent)
      case "max": return lower(e.a).maximum(lower(e.b))
      case "min": return lower(e.a).minimum(lower(e.b))
      case "table": return interpolate(e.values, e.t0, e.t1, lower(e.at))
    }
  }
  /** c − c·eˣ as −c·expm1(x): in float32, 1 − e^(−1e-6) would keep only one significant digit. */
  const stableAdd = (e: Extract<TimeExpr, { kind: "add" }>): Tensor | undefined => {
    if (e.terms.length !== 2) return undefined
    const [c, other] = e.terms[0]!.kind === "const" ? e.terms : [e.terms[1]!, e.terms[0]!]
    const scaled = scaledExp(other!)
    if (c!.kind !== "const" || !scaled || c.value !== -scaled.k) return undefined
    return lower(scaled.arg).expm1().mul(scaled.k)
  }
  return lower(expr)
}

/** (k, x) when `e` is k·eˣ (as exp x, neg(exp x) or k·exp x). */
const scaledExp = (e: TimeExpr): { k: number; arg: TimeExpr } | undefined => {
  if (e.kind === "exp") return { k: 1, arg: e.arg }
  if (e.kind === "neg" && e.arg.kind === "exp") return { k: -1, arg: e.arg.arg }
  if (e.kind === "mul" && e.factors.length === 2) {
    const [c, x] = e.factors[0]!.kind === "const" ? e.factors : [e.factors[1]!, e.factors[0]!]
    if (c!.kind === "const" && x!.kind === "exp") return { k: c.value, arg: x.arg }
  }
  return undefined
}

/** x when `e` is 1 + eˣ. */
const onePlusExp = (e: Extract<TimeExpr, { kind: "add" }>): TimeExpr | undefined => {
  if (e.terms.length !== 2) return undefined
  const [c, other] = e.terms[0]!.kind === "const" ? e.terms : [e.terms[1]!, e.terms[0]!]
  return c!.kind === "const" && c.value === 1 && other!.kind === "exp" ? other.arg : undefined
}

/** Linear interpolation in a uniform-grid table, clamped to its end values (as `evaluate` does). */
const interpolate = (values: Float64Array, t0: number, t1: number, at: Tensor): Tensor => {
  const n = values.length
  const table = tensorData(values)
  const position = at.sub(t0).mul((n - 1) / (t1 - t0)).maximum(0).minimum(n - 1)
  const left = position.floor().minimum(n - 2)
  const frac = position.sub(left)
  const lo = gather(table, left)
  const hi = gather(table, left.add(1))
  return lo.add(hi.sub(lo).mul(frac))
}
