/**
 * Algebraic simplification to a canonical form, so derived means, variances and CDFs stay small.
 *
 * Canonical form: no `neg` (it is −1·x); sums are flat with like terms collected (constant first,
 * then powers of t by degree, then the rest by their printed form); products are flat with the
 * constant first, equal bases' exponents added and all exponentials merged into one; exponents
 * print as √x, 1/x, x^p. A rule that is only valid on part of the real line (√(x²) = x) is applied
 * only where the domain already guarantees it (√x² = x needs x ≥ 0, which √ itself imposes).
 */
import { add, constant, dependsOnT, exp, log, mul, pow, recip, sqrt, withChildren, t, type TimeExpr } from "./expr.ts"
import { evaluate } from "./evaluate.ts"
import { asPolynomial, degree, polyAdd, type Poly } from "./polynomial.ts"
import { show } from "./show.ts"

const simplified = new WeakMap<TimeExpr, TimeExpr>()

/** An equivalent, canonical and (usually) smaller expression; idempotent. */
export function simplify(e: TimeExpr): TimeExpr {
  const hit = simplified.get(e)
  if (hit) return hit
  let r = rewrite(e)
  // A rewrite can expose another (exp(a)·exp(−a) → exp(0) → 1); iterate to a fixed point.
  for (let i = 0; i < 8; i++) {
    const next = simplified.get(r) ?? rewrite(r)
    if (next === r) break
    r = next
  }
  simplified.set(e, r)
  simplified.set(r, r)
  return r
}

function rewrite(e: TimeExpr): TimeExpr {
  if (e.kind !== "const" && !dependsOnT(e)) {
    const v = evaluate(e, 0)
    if (Number.isFinite(v)) return constant(v)
  }
  switch (e.kind) {
    case "const": case "t": return e
    case "add": return sumOf(e.terms.map(simplify))
    case "mul": return productOf(e.factors.map(simplify))
    case "neg": return productOf([constant(-1), simplify(e.arg)])
    case "recip": return powerOf(simplify(e.arg), -1)
    case "sqrt": return powerOf(simplify(e.arg), 0.5)
    case "pow": return powerOf(simplify(e.base), e.exponent)
    case "exp": return expOf(simplify(e.arg))
    case "log": return logOf(simplify(e.arg))
    case "max": case "min": {
      const [a, b] = [simplify(e.a), simplify(e.b)]
      return a === b ? a : withChildren(e, [a, b])
    }
    case "sin": case "cos": return withChildren(e, [simplify(e.arg)])
    case "table": return withChildren(e, [simplify(e.at)])
  }
}

// ---------- ordering and size ----------

const printed = new WeakMap<TimeExpr, string>()
const printedOf = (e: TimeExpr): string => {
  let s = printed.get(e)
  if (s === undefined) { s = show(e); printed.set(e, s) }
  return s
}

/** Constants first, then t, t², … by degree, then everything else alphabetically by its print. */
function orderKey(e: TimeExpr): [number, number, string] {
  const [, body] = splitCoefficient(e)
  if (body.kind === "const") return [0, 0, ""]
  if (body.kind === "t") return [1, 1, ""]
  if (body.kind === "pow" && body.base.kind === "t") return [1, body.exponent, ""]
  return [2, 0, printedOf(body)]
}
function canonicalOrder(a: TimeExpr, b: TimeExpr): number {
  const [ka, kb] = [orderKey(a), orderKey(b)]
  return ka[0] - kb[0] || ka[1] - kb[1] || (ka[2] < kb[2] ? -1 : ka[2] > kb[2] ? 1 : 0)
}

const sizes = new WeakMap<TimeExpr, number>()
/** Tree size (shared sub-expressions counted each time they appear): the cost a reader pays. */
export function size(e: TimeExpr): number {
  let s = sizes.get(e)
  if (s === undefined) {
    s = 1
    switch (e.kind) {
      case "const": case "t": break
      case "add": for (const x of e.terms) s += size(x); break
      case "mul": for (const x of e.factors) s += size(x); break
      case "pow": s += size(e.base); break
      case "max": case "min": s += size(e.a) + size(e.b); break
      case "table": s += size(e.at); break
      default: s += size(e.arg)
    }
    sizes.set(e, s)
  }
  return s
}

// ---------- sign knowledge (for rules valid only on x ≥ 0) ----------

const signs = new WeakMap<TimeExpr, boolean>()
/** Conservative: true only when e ≥ 0 wherever it is defined. */
export function isNonNegative(e: TimeExpr): boolean {
  let r = signs.get(e)
  if (r !== undefined) return r
  switch (e.kind) {
    case "const": r = e.value >= 0; break
    case "exp": case "sqrt": r = true; break
    case "pow": r = !isOddInteger(e.exponent) || isNonNegative(e.base); break
    case "recip": r = isNonNegative(e.arg); break
    case "add": r = e.terms.every(isNonNegative); break
    case "mul": r = e.factors.every(isNonNegative); break
    case "max": r = isNonNegative(e.a) || isNonNegative(e.b); break
    case "min": r = isNonNegative(e.a) && isNonNegative(e.b); break
    case "table": r = e.values.every((v) => v >= 0); break
    default: r = false
  }
  signs.set(e, r)
  return r
}
const isOddInteger = (p: number) => Number.isInteger(p) && Math.abs(p % 2) === 1
const isEvenInteger = (p: number) => Number.isInteger(p) && p % 2 === 0

// ---------- sums ----------

/** [c, body] with e = c·body and body free of a leading constant. */
export function splitCoefficient(e: TimeExpr): [number, TimeExpr] {
  if (e.kind === "const") return [e.value, constant(1)]
  if (e.kind === "mul" && e.factors[0]?.kind === "const") {
    const rest = e.factors.slice(1)
    return [e.factors[0].value, rest.length === 1 ? rest[0]! : mul(...rest)]
  }
  return [1, e]
}

/** c·body in canonical form (body already canonical). */
function scaled(c: number, body: TimeExpr): TimeExpr {
  if (c === 1) return body
  if (body.kind === "const") return constant(c * body.value)
  return body.kind === "mul" ? mul(constant(c), ...body.factors) : mul(constant(c), body)
}

/** Flattened sum of canonical terms with like terms (same body) collected. */
export function sumOf(terms: readonly TimeExpr[]): TimeExpr {
  let c0: Poly = []
  const bodies = new Map<TimeExpr, Poly>() // a one-coefficient Poly, so polyAdd snaps cancellation
  const visit = (term: TimeExpr, scale: number): void => {
    if (term.kind === "add") return term.terms.forEach((x) => visit(x, scale))
    const [c, body] = splitCoefficient(term)
    if (body.kind === "const") { c0 = polyAdd(c0, [scale * c * body.value]); return }
    if (body.kind === "add") return body.terms.forEach((x) => visit(x, scale * c))
    bodies.set(body, polyAdd(bodies.get(body) ?? [], [scale * c]))
  }
  terms.forEach((x) => visit(x, 1))
  const out: TimeExpr[] = []
  if (c0.length > 0) out.push(constant(c0[0]!))
  for (const [body, coef] of bodies) if (coef.length > 0) out.push(scaled(coef[0]!, body))
  out.sort(canonicalOrder)
  return out.length === 0 ? constant(0) : out.length === 1 ? out[0]! : add(...out)
}

/** The canonical sum c₀ + c₁·t + c₂·t² + … . */
export function polynomialOf(p: Poly): TimeExpr {
  return sumOf(p.map((c, k) => (k === 0 ? constant(c) : scaled(c, k === 1 ? t : pow(t, k)))).filter((_, k) => p[k] !== 0))
}

// ---------- products and powers ----------

/** [base, p] with e = base^p, unwrapping nested powers where that is valid. */
export function asPower(e: TimeExpr): [TimeExpr, number] {
  const nested = (inner: TimeExpr, r: number): [TimeExpr, number] => {
    const [b, q] = asPower(inner)
    // (x^q)^r = x^{qr} unless q is even and r fractional: √(x²) = |x|.
    if (Number.isInteger(r) || !isEvenInteger(q) || isNonNegative(b)) return [b, q * r]
    return [inner, r]
  }
  switch (e.kind) {
    case "pow": return nested(e.base, e.exponent)
    case "sqrt": return nested(e.arg, 0.5)
    case "recip": return nested(e.arg, -1)
    default: return [e, 1]
  }
}

/** base^p as a node: x, √x, 1/x, x^p (negative powers as a reciprocal so they print as fractions). */
function powerNode(base: TimeExpr, p: number): TimeExpr {
  if (p === 1) return base
  if (p < 0) return recip(powerNode(base, -p))
  return p === 0.5 ? sqrt(base) : pow(base, p)
}

/** Whether a product should be expanded into a polynomial (it contains a sum, so expanding shows more). */
function expandsToPolynomial(factors: readonly TimeExpr[]): Poly | undefined {
  const hasSum = factors.some((f) => f.kind === "add" || (f.kind === "pow" && f.base.kind === "add"))
  if (!hasSum) return undefined
  const p = asPolynomial(factors.length === 1 ? factors[0]! : mul(...factors))
  return p && degree(p) <= 6 ? p : undefined
}

/** Flattened product of canonical factors: constants folded, exponents of equal bases added, exps merged. */
export function productOf(factors: readonly TimeExpr[]): TimeExpr {
  let coefficient = 1
  const exponents: TimeExpr[] = []
  const powers = new Map<TimeExpr, number>()
  const visit = (f: TimeExpr): void => {
    if (f.kind === "const") coefficient *= f.value
    else if (f.kind === "mul") f.factors.forEach(visit)
    else if (f.kind === "exp") exponents.push(f.arg)
    else {
      const [b, p] = asPower(f)
      powers.set(b, (powers.get(b) ?? 0) + p)
    }
  }
  factors.forEach(visit)
  if (coefficient === 0) return constant(0)
  const out: TimeExpr[] = []
  if (exponents.length > 0) {
    const merged = expOf(exponents.length === 1 ? exponents[0]! : simplify(add(...exponents)))
    if (merged.kind === "const") coefficient *= merged.value
    else if (merged.kind === "exp") out.push(merged)
    else return productOf([constant(coefficient), merged, ...[...powers].map(([b, p]) => powerNode(b, p))])
  }
  for (const [b, p] of powers) {
    if (Math.abs(p) > 1e-12) out.push(powerNode(b, p))
  }
  out.sort(canonicalOrder)
  const poly = expandsToPolynomial(out)
  if (poly) return polynomialOf(poly.map((c) => c * coefficient))
  const sums = out.filter((f) => f.kind === "add")
  if (sums.length === 1) {
    const others = out.filter((f) => f.kind !== "add")
    if (coefficient !== 1 && others.length > 0) {
      // Fold the constant into the one sum: -(-0.1 - 19.9·t)·x reads better as (0.1 + 19.9·t)·x.
      const sum = sums[0] as { terms: readonly TimeExpr[] }
      return productOf([...others, sumOf(sum.terms.map((x) => productOf([constant(coefficient), x])))])
    }
    const expanded = sumOf((sums[0] as { terms: readonly TimeExpr[] }).terms.map((x) =>
      productOf([constant(coefficient), ...others, x])))
    // A constant always distributes (2·(a + b) → 2a + 2b); anything else only when that is smaller.
    if (others.length === 0) return expanded
    const product = coefficient === 1 ? mul(...out) : mul(constant(coefficient), ...out)
    return size(expanded) < size(product) ? expanded : product
  }
  if (out.length === 0) return constant(coefficient)
  if (coefficient === 1) return out.length === 1 ? out[0]! : mul(...out)
  return mul(constant(coefficient), ...out)
}

/** base^p, distributing over products and exponentials where valid. */
export function powerOf(base: TimeExpr, p: number): TimeExpr {
  if (p === 0) return constant(1)
  if (base.kind === "const") {
    const v = Math.pow(base.value, p)
    if (Number.isFinite(v)) return constant(v)
  }
  if (base.kind === "exp") return expOf(simplify(mul(constant(p), base.arg)))
  if (base.kind === "mul") {
    // (ab)^p = a^p b^p for integer p, or for factors known to be ≥ 0; the rest stay grouped.
    const split = base.factors.filter((f) => Number.isInteger(p) || isNonNegative(f))
    const kept = base.factors.filter((f) => !split.includes(f))
    const parts = split.map((f) => powerOf(f, p))
    if (kept.length > 0) parts.push(powerNode(kept.length === 1 ? kept[0]! : mul(...kept), p))
    return productOf(parts)
  }
  return productOf([powerNode(base, p)])
}

// ---------- exp and log ----------

/** [c, x] when e = c·log(x). */
function asScaledLog(e: TimeExpr): [number, TimeExpr] | undefined {
  const [c, body] = splitCoefficient(e)
  return body.kind === "log" ? [c, body.arg] : undefined
}

/** exp(a) with exp(log x) = x and exp(a + c·log x) = x^c·exp(a) (valid: log already needs x > 0). */
export function expOf(a: TimeExpr): TimeExpr {
  if (a.kind === "const") {
    const v = Math.exp(a.value)
    if (Number.isFinite(v)) return constant(v)
  }
  const terms = a.kind === "add" ? a.terms : [a]
  const logs = terms.map(asScaledLog)
  if (logs.every((l) => l === undefined)) return exp(a)
  const rest = terms.filter((_, i) => logs[i] === undefined)
  const powers = logs.flatMap((l) => (l ? [powerOf(l[1], l[0])] : []))
  return productOf([...powers, ...(rest.length > 0 ? [expOf(sumOf(rest))] : [])])
}

/** log(x) with log(exp a) = a, log(x^p) = p·log x and log(c·e^a·y) = log c + a + log y where valid. */
export function logOf(x: TimeExpr): TimeExpr {
  if (x.kind === "const") {
    const v = Math.log(x.value)
    if (Number.isFinite(v)) return constant(v)
  }
  if (x.kind === "exp") return x.arg
  const [b, p] = asPower(x)
  // log(x^p) = p·log x needs x > 0, implied unless p is an even integer (x² > 0 for x < 0).
  if (p !== 1 && (!isEvenInteger(p) || isNonNegative(b))) return productOf([constant(p), logOf(b)])
  if (x.kind === "mul") {
    const additive = x.factors.filter((f) => f.kind === "exp" || (f.kind === "const" && f.value > 0))
    if (additive.length > 0) {
      const rest = x.factors.filter((f) => !additive.includes(f))
      const logs = additive.map((f) => (f.kind === "exp" ? f.arg : logOf(f)))
      if (rest.length > 0) logs.push(logOf(rest.length === 1 ? rest[0]! : mul(...rest)))
      return sumOf(logs)
    }
  }
  return log(x)
}

// ---------- expansion (used by the integrator when a product hides a sum) ----------

/**
 * Distributes products over sums (and small integer powers of sums), then simplifies. Polynomial
 * sums stay whole, so (0.1 + 19.9·t)·(1 − e^{−2B})·e^B becomes β·e^B − β·e^{−B}, not four pieces
 * that have lost the β = B′ the integrator needs to see.
 */
export function expand(e: TimeExpr): TimeExpr {
  const s = simplify(e)
  const termsOf = (f: TimeExpr): readonly TimeExpr[] => {
    if (asPolynomial(f)) return [f]
    if (f.kind === "add") return f.terms.map(expand)
    if (f.kind === "pow" && f.base.kind === "add" && Number.isInteger(f.exponent) && f.exponent > 1 && f.exponent <= 4) {
      let acc: readonly TimeExpr[] = [constant(1)]
      const base = termsOf(f.base)
      for (let i = 0; i < f.exponent; i++) acc = acc.flatMap((a) => base.map((b) => productOf([a, b])))
      return acc
    }
    return [f]
  }
  if (s.kind === "add") return sumOf(s.terms.map(expand))
  const factors = s.kind === "mul" ? s.factors : [s]
  let acc: readonly TimeExpr[] = [constant(1)]
  for (const f of factors) {
    const ts = termsOf(f)
    if (acc.length * ts.length > 256) return s // expansion would explode; keep the compact form
    acc = acc.flatMap((a) => ts.map((b) => productOf([a, b])))
  }
  return sumOf(acc)
}
