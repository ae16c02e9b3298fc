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
  /**
   * Σⱼ cⱼ·e^{j·x} with Σⱼ cⱼ = 0 (c − c·eˣ, subVP's 1 − 2e^{−B} + e^{−2B}, …) as a polynomial in
   * u = expm1(x) without its constant term: in float32, 1 − e^(−1e-6) keeps one significant digit and
   * subVP's variance B² ≈ 1e-10 at t = 1e-5 would come out negative. Horner in u keeps full precision.
   */
  const stableAdd = (e: Extract<TimeExpr, { kind: "add" }>): Tensor | undefined => {
    const poly = expPolynomial(e)
    if (!poly) return undefined
    const u = lower(poly.base).expm1()
    // a_p = Σⱼ cⱼ·C(j, p): the coefficient of u^p in Σⱼ cⱼ(1 + u)^j; a_0 = Σⱼ cⱼ = 0 by construction.
    const degree = Math.max(...poly.terms.map((term) => term.j))
    const coefficients = Array.from({ length: degree + 1 }, (_, p) => poly.terms.reduce((a, term) => a + term.c * binomial(term.j, p), 0))
    let result: Tensor | undefined
    for (let p = degree; p >= 1; p--) {
      const a = coefficients[p]!
      result = result ? result.add(a).mul(u) : u.mul(a)
    }
    return result
  }
  return lower(expr)
}

/** C(n, k), 0 when k > n. */
const binomial = (n: number, k: number): number => {
  let r = 1
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i
  return k > n ? 0 : r
}

/** Σⱼ cⱼ·e^{j·base} (j = 0, 1, 2, … small whole multiples) when `e` is such a sum whose cⱼ cancel. */
const expPolynomial = (e: Extract<TimeExpr, { kind: "add" }>): { base: TimeExpr; terms: { c: number; j: number }[] } | undefined => {
  const parts: { c: number; arg?: TimeExpr }[] = []
  for (const term of e.terms) {
    if (term.kind === "const") parts.push({ c: term.value })
    else {
      const scaled = scaledExp(term)
      if (!scaled) return undefined
      parts.push({ c: scaled.k, arg: scaled.arg })
    }
  }
  const exps = parts.filter((p) => p.arg)
  const constants = parts.filter((p) => !p.arg).reduce((a, p) => a + p.c, 0)
  if (exps.length === 0) return undefined
  // The base is the exponent of smallest magnitude; every other must be a whole multiple of it.
  const forms = exps.map((p) => ({ c: p.c, arg: p.arg!, form: linearForm(p.arg!) }))
  const scale = (f: Map<string, number>) => Math.max(...[...f.values()].map(Math.abs))
  const base = forms.reduce((a, b) => (scale(b.form) < scale(a.form) ? b : a))
  const terms: { c: number; j: number }[] = [{ c: constants, j: 0 }]
  for (const p of forms) {
    const j = multipleOf(p.form, base.form)
    if (j === undefined) return undefined
    terms.push({ c: p.c, j })
  }
  const total = terms.reduce((a, term) => a + term.c, 0)
  const size = terms.reduce((a, term) => a + Math.abs(term.c), 0)
  // Only a sum that cancels at x = 0 loses digits; anything else lowers as written.
  if (!(Math.abs(total) <= 1e-12 * size)) return undefined
  return { base: base.arg, terms }
}

/** k when `form` = k·`base` for a whole k in 1…8 (exponents written as Σ coefficient·monomial). */
const multipleOf = (form: Map<string, number>, base: Map<string, number>): number | undefined => {
  if (form.size !== base.size) return undefined
  let k: number | undefined
  for (const [key, c] of form) {
    const b = base.get(key)
    if (b === undefined || b === 0) return undefined
    const ratio = c / b
    if (k === undefined) k = Math.round(ratio)
    if (!(k >= 1 && k <= 8) || Math.abs(ratio - k) > 1e-12 * k) return undefined
  }
  return k
}

/** `e` as Σ coefficient·monomial, a monomial keyed by its non-constant factors' ids. */
const linearForm = (e: TimeExpr): Map<string, number> => {
  const out = new Map<string, number>()
  const put = (key: string, c: number) => out.set(key, (out.get(key) ?? 0) + c)
  const visit = (x: TimeExpr, c: number): void => {
    if (x.kind === "add") for (const term of x.terms) visit(term, c)
    else if (x.kind === "neg") visit(x.arg, -c)
    else if (x.kind === "const") put("1", c * x.value)
    else if (x.kind === "mul") {
      const k = x.factors.reduce((a, f) => (f.kind === "const" ? a * f.value : a), c)
      const rest = x.factors.filter((f) => f.kind !== "const")
      if (rest.length === 1) visit(rest[0]!, k)
      else put(rest.map((f) => f.id).sort((a, b) => a - b).join("*"), k)
    } else put(String(x.id), c)
  }
  visit(e, 1)
  return out
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
