/** Human-readable rendering of time expressions: "0.1 + 19.9·t", "exp(-0.05·t - 4.975·t²)". */
import type { TimeExpr } from "./nodes.ts"

// Precedence: a child is parenthesised when its level is below what its parent needs.
const SUM = 0
const PRODUCT = 1
const POWER = 2
const ATOM = 3

/** Six significant digits: enough to recognise a coefficient, short enough to read. */
export function formatNumber(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e15) return String(x)
  return String(Number(x.toPrecision(6)))
}

const superscripts: Record<number, string> = { 2: "²", 3: "³", 4: "⁴" }

/** The expression as a one-line formula. */
export function show(e: TimeExpr): string {
  return render(e).text
}

interface Rendered { readonly text: string; readonly level: number }

const wrap = (r: Rendered, need: number): string => (r.level < need ? `(${r.text})` : r.text)
const at = (e: TimeExpr, need: number): string => wrap(render(e), need)
const call = (name: string, ...args: TimeExpr[]): Rendered =>
  ({ text: `${name}(${args.map((a) => render(a).text).join(", ")})`, level: ATOM })

function render(e: TimeExpr): Rendered {
  switch (e.kind) {
    case "const": return { text: formatNumber(e.value), level: e.value < 0 ? SUM : ATOM }
    case "t": return { text: "t", level: ATOM }
    case "add": return renderSum(e.terms)
    case "mul": return renderProduct(e.factors)
    case "neg": return { text: `-${at(e.arg, PRODUCT)}`, level: PRODUCT }
    case "recip": return { text: `1/${at(e.arg, POWER)}`, level: PRODUCT }
    case "sqrt": return { text: `√${at(e.arg, ATOM)}`, level: POWER }
    case "pow": {
      const p = superscripts[e.exponent] ?? `^${e.exponent < 0 ? `(${formatNumber(e.exponent)})` : formatNumber(e.exponent)}`
      return { text: `${at(e.base, ATOM)}${p}`, level: POWER }
    }
    case "exp": case "log": case "sin": case "cos": return call(e.kind, e.arg)
    case "max": case "min": return call(e.kind, e.a, e.b)
    case "table":
      return { text: `table[${e.values.length} on [${formatNumber(e.t0)}, ${formatNumber(e.t1)}]](${render(e.at).text})`, level: ATOM }
  }
}

/** A term printed after " - " when it carries a negative sign, so sums read "a - b" not "a + -1·b". */
function negated(term: TimeExpr): Rendered | undefined {
  if (term.kind === "const" && term.value < 0) return { text: formatNumber(-term.value), level: ATOM }
  if (term.kind === "neg") return { text: at(term.arg, PRODUCT), level: PRODUCT }
  if (term.kind === "mul") {
    const [first, ...rest] = term.factors
    if (first?.kind === "const" && first.value < 0) {
      return first.value === -1 ? renderProduct(rest) : renderProduct(rest, -first.value)
    }
  }
  return undefined
}

function renderSum(terms: readonly TimeExpr[]): Rendered {
  const parts = terms.map((term, i) => {
    const minus = negated(term)
    if (minus) return `${i === 0 ? "-" : " - "}${wrap(minus, PRODUCT)}`
    return `${i === 0 ? "" : " + "}${render(term).text}`
  })
  return { text: parts.join(""), level: SUM }
}

/** Splits factors into numerator and denominator so 1/x and x^(−p) print as a fraction. */
function renderProduct(factors: readonly TimeExpr[], scale = 1): Rendered {
  let coefficient = scale
  const top: string[] = []
  const bottom: TimeExpr[] = []
  factors.forEach((f, i) => {
    if (i === 0 && f.kind === "const") coefficient *= f.value
    else if (f.kind === "recip") bottom.push(f.arg)
    else if (f.kind === "pow" && f.exponent < 0) bottom.push({ ...f, exponent: -f.exponent } as TimeExpr)
    else top.push(at(f, POWER))
  })
  const sign = coefficient < 0 ? "-" : ""
  if (Math.abs(coefficient) !== 1) top.unshift(formatNumber(Math.abs(coefficient)))
  let text = top.length > 0 ? top.join("·") : "1"
  if (bottom.length > 0) {
    const den = bottom.map((b) => at(b, POWER)).join("·")
    text = `${text}/${bottom.length > 1 ? `(${den})` : den}`
  }
  return { text: `${sign}${text}`, level: PRODUCT }
}
