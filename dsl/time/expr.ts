/**
 * Symbolic scalar functions of time t: an immutable, hash-consed expression DAG.
 *
 * Structurally equal expressions are the same object (`a === b`), so simplification can collect like
 * terms by identity and the compiler can CSE for free. Nodes are a discriminated union on `kind`
 * (`nodes.ts`); a backend lowers them with one `switch`. The builder methods (`.add`, `.mul`, …) build
 * raw nodes — `simplify` is a separate, explicit pass.
 */
import { NonFiniteConstant } from "./errors.ts"
import type { Add, Const, Extremum, Mul, Pow, Table, TimeExpr, TimeLike, TimeOps, Unary, Var } from "./nodes.ts"
import { show } from "./show.ts"

export { timeExprKinds } from "./nodes.ts"
export type { Add, Const, Extremum, Mul, Pow, Table, TimeExpr, TimeExprKind, TimeLike, TimeOps, Unary, Var } from "./nodes.ts"

type Fields<E> = E extends TimeExpr ? Omit<E, keyof TimeOps> : never

// Hash-consing table: structural key → weakly held node, so unused expressions can be collected.
const interned = new Map<string, WeakRef<TimeExpr>>()
const reaper = new FinalizationRegistry<string>((key) => {
  if (interned.get(key)?.deref() === undefined) interned.delete(key)
})
let nextId = 0

const num = (x: number): string => (Object.is(x, -0) ? "-0" : String(x))

function keyOf(f: Fields<TimeExpr>): string {
  switch (f.kind) {
    case "const": return `c${num(f.value)}`
    case "t": return "t"
    case "add": return `+${f.terms.map((x) => x.id).join(",")}`
    case "mul": return `*${f.factors.map((x) => x.id).join(",")}`
    case "pow": return `^${f.base.id},${num(f.exponent)}`
    case "max": case "min": return `${f.kind}${f.a.id},${f.b.id}`
    case "table": return `T${f.at.id},${num(f.t0)},${num(f.t1)},${f.values.length},${fingerprint(f.values)}`
    default: return `${f.kind}${f.arg.id}`
  }
}

// FNV-1a over the raw bits; a hit is confirmed element by element, so collisions only cost time.
function fingerprint(values: Float64Array): number {
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length * 2)
  let h = 0x811c9dc5
  for (const w of words) h = Math.imul(h ^ w, 0x01000193)
  return h >>> 0
}

function sameNode(a: TimeExpr, b: Fields<TimeExpr>): boolean {
  if (a.kind !== "table" || b.kind !== "table") return true
  return a.values.length === b.values.length && a.values.every((v, i) => Object.is(v, b.values[i]))
}

function intern<E extends TimeExpr>(fields: Fields<E>): E {
  let key = keyOf(fields)
  for (let salt = 0; ; salt++) {
    const found = interned.get(key)?.deref()
    if (found === undefined) break
    if (sameNode(found, fields)) return found as E
    key = `${keyOf(fields)}#${salt}`
  }
  const node = Object.assign(Object.create(Node.prototype), fields, { id: nextId++ }) as E
  if (node.kind !== "table") Object.freeze(node) // typed arrays cannot be frozen
  interned.set(key, new WeakRef(node))
  reaper.register(node, key)
  return node
}

/** Lifts a number to a constant, naming `context` (the expression being built) if it is not finite. */
function lift(x: TimeLike, context: () => string): TimeExpr {
  if (typeof x !== "number") return x
  if (!Number.isFinite(x)) {
    throw new NonFiniteConstant({ message: `non-finite constant ${x} in ${context()}`, value: x, expression: context() })
  }
  return intern<Const>({ kind: "const", value: x })
}

const described = (self: TimeExpr, op: string, x: TimeLike) => () =>
  `${show(self)} ${op} ${typeof x === "number" ? String(x) : show(x)}`

class Node {
  add(this: TimeExpr, x: TimeLike): TimeExpr { return add(this, lift(x, described(this, "+", x))) }
  sub(this: TimeExpr, x: TimeLike): TimeExpr { return add(this, neg(lift(x, described(this, "-", x)))) }
  mul(this: TimeExpr, x: TimeLike): TimeExpr { return mul(this, lift(x, described(this, "·", x))) }
  div(this: TimeExpr, x: TimeLike): TimeExpr { return mul(this, recip(lift(x, described(this, "/", x)))) }
  neg(this: TimeExpr): TimeExpr { return neg(this) }
  exp(this: TimeExpr): TimeExpr { return exp(this) }
  log(this: TimeExpr): TimeExpr { return log(this) }
  sqrt(this: TimeExpr): TimeExpr { return sqrt(this) }
  sin(this: TimeExpr): TimeExpr { return sin(this) }
  cos(this: TimeExpr): TimeExpr { return cos(this) }
  pow(this: TimeExpr, p: TimeLike): TimeExpr {
    if (typeof p !== "number") return exp(mul(p, log(this)))
    lift(p, described(this, "^", p))
    return pow(this, p)
  }
  square(this: TimeExpr): TimeExpr { return pow(this, 2) }
  max(this: TimeExpr, x: TimeLike): TimeExpr { return max(this, lift(x, described(this, "max", x))) }
  min(this: TimeExpr, x: TimeLike): TimeExpr { return min(this, lift(x, described(this, "min", x))) }
  toString(this: TimeExpr): string { return show(this) }
}

/**
 * The variable of time expressions: the SDE's time t, symbolically. From "sdeflow" it is `time.t`; it is not the
 * `t` a compiled function or a drift model receives, which is a scalar `Tensor` holding one value of t.
 */
export const t: TimeExpr = intern<Var>({ kind: "t" })

/**
 * A constant function of time; throws NonFiniteConstant for NaN/±∞. From "sdeflow" it is `time.constant`; the
 * top-level `constant` makes a scalar `Tensor` instead. A plain number works wherever a `TimeLike` is taken.
 */
export const constant = (c: number): TimeExpr => lift(c, () => `constant(${c})`)

/** a + (b − a)·x, e.g. `lerp(0.1, 20, t)` for the VP β schedule. */
export const lerp = (a: number, b: number, x: TimeExpr = t): TimeExpr =>
  add(constant(a), mul(lift(b - a, () => `lerp(${a}, ${b}, ${show(x)})`), x))

const asExpr = (x: TimeLike): TimeExpr => lift(x, () => `constant(${x})`)

/** n-ary sum (one argument returns it unchanged; none gives 0). */
export function add(...terms: TimeLike[]): TimeExpr {
  const xs = terms.map(asExpr)
  if (xs.length === 0) return constant(0)
  return xs.length === 1 ? xs[0]! : intern<Add>({ kind: "add", terms: xs })
}
/** n-ary product (one argument returns it unchanged; none gives 1). */
export function mul(...factors: TimeLike[]): TimeExpr {
  const xs = factors.map(asExpr)
  if (xs.length === 0) return constant(1)
  return xs.length === 1 ? xs[0]! : intern<Mul>({ kind: "mul", factors: xs })
}
/** −x. */
export const neg = (x: TimeLike): TimeExpr => intern<Unary<"neg">>({ kind: "neg", arg: asExpr(x) })
/** 1/x. */
export const recip = (x: TimeLike): TimeExpr => intern<Unary<"recip">>({ kind: "recip", arg: asExpr(x) })
/** e^x. */
export const exp = (x: TimeLike): TimeExpr => intern<Unary<"exp">>({ kind: "exp", arg: asExpr(x) })
/** Natural logarithm. */
export const log = (x: TimeLike): TimeExpr => intern<Unary<"log">>({ kind: "log", arg: asExpr(x) })
/** √x. */
export const sqrt = (x: TimeLike): TimeExpr => intern<Unary<"sqrt">>({ kind: "sqrt", arg: asExpr(x) })
/** sin x (radians). */
export const sin = (x: TimeLike): TimeExpr => intern<Unary<"sin">>({ kind: "sin", arg: asExpr(x) })
/** cos x (radians). */
export const cos = (x: TimeLike): TimeExpr => intern<Unary<"cos">>({ kind: "cos", arg: asExpr(x) })
/** base^p for a finite constant p. */
export const pow = (base: TimeLike, p: number): TimeExpr =>
  intern<Pow>({ kind: "pow", base: asExpr(base), exponent: p })
/** Pointwise maximum. */
export const max = (a: TimeLike, b: TimeLike): TimeExpr => intern<Extremum<"max">>({ kind: "max", a: asExpr(a), b: asExpr(b) })
/** Pointwise minimum. */
export const min = (a: TimeLike, b: TimeLike): TimeExpr => intern<Extremum<"min">>({ kind: "min", a: asExpr(a), b: asExpr(b) })

/** A tabulated function on the uniform grid t0…t1, interpolated linearly at `at` (default t). */
export function table(t0: number, t1: number, values: ArrayLike<number>, at: TimeExpr = t): TimeExpr {
  const copy = Float64Array.from(values)
  const bad = copy.findIndex((v) => !Number.isFinite(v))
  const name = () => `table(${copy.length} points on [${t0}, ${t1}])`
  if (bad >= 0) lift(copy[bad]!, () => `${name()} at index ${bad}`)
  if (!(copy.length >= 2 && Number.isFinite(t0) && Number.isFinite(t1) && t1 > t0)) {
    throw new RangeError(`${name()}: needs ≥ 2 values and finite t0 < t1`)
  }
  return intern<Table>({ kind: "table", t0, t1, values: copy, at })
}

/** The direct sub-expressions of a node, in a fixed order. */
export function children(e: TimeExpr): readonly TimeExpr[] {
  switch (e.kind) {
    case "const": case "t": return []
    case "add": return e.terms
    case "mul": return e.factors
    case "pow": return [e.base]
    case "max": case "min": return [e.a, e.b]
    case "table": return [e.at]
    default: return [e.arg]
  }
}

/** The same node kind and payload with new children (as returned by `children`). */
export function withChildren(e: TimeExpr, kids: readonly TimeExpr[]): TimeExpr {
  const k = (i: number) => kids[i]!
  switch (e.kind) {
    case "const": case "t": return e
    case "add": return add(...kids)
    case "mul": return mul(...kids)
    case "pow": return pow(k(0), e.exponent)
    case "max": return max(k(0), k(1))
    case "min": return min(k(0), k(1))
    case "table": return intern<Table>({ kind: "table", t0: e.t0, t1: e.t1, values: e.values, at: k(0) })
    default: return intern<Unary<typeof e.kind>>({ kind: e.kind, arg: k(0) } as Fields<Unary<typeof e.kind>>)
  }
}

const dependence = new WeakMap<TimeExpr, boolean>()
/** Whether the expression varies with t. */
export function dependsOnT(e: TimeExpr): boolean {
  if (e.kind === "t") return true
  let d = dependence.get(e)
  if (d === undefined) {
    d = children(e).some(dependsOnT)
    dependence.set(e, d)
  }
  return d
}

/** f(inner): every t in `outer` replaced by `inner` (composition; tables compose through `at`). */
export function substitute(outer: TimeExpr, inner: TimeExpr): TimeExpr {
  const memo = new Map<TimeExpr, TimeExpr>()
  const go = (e: TimeExpr): TimeExpr => {
    if (e.kind === "t") return inner
    let r = memo.get(e)
    if (r === undefined) {
      r = dependsOnT(e) ? withChildren(e, children(e).map(go)) : e
      memo.set(e, r)
    }
    return r
  }
  return go(outer)
}
