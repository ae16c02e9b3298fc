/**
 * The node types of a time expression: a discriminated union on `kind`, every node carrying the fluent
 * builder methods of `TimeOps`. `expr.ts` builds the nodes; renderers (`show.ts`) and passes read them.
 */

/** Every node kind, in the order a backend might list its lowering cases. */
export const timeExprKinds = [
  "const", "t", "add", "mul", "neg", "recip", "exp", "log", "sqrt", "pow", "sin", "cos", "max", "min", "table",
] as const

/** The `kind` tag of a time expression. */
export type TimeExprKind = (typeof timeExprKinds)[number]

/** Anything the builder accepts where an expression is expected. */
export type TimeLike = TimeExpr | number

/** Fluent builder methods shared by every node; numbers are lifted to constants. */
export interface TimeOps {
  /** Unique per structurally distinct expression (stable for the process lifetime). */
  readonly id: number
  add(x: TimeLike): TimeExpr
  sub(x: TimeLike): TimeExpr
  mul(x: TimeLike): TimeExpr
  div(x: TimeLike): TimeExpr
  neg(): TimeExpr
  exp(): TimeExpr
  log(): TimeExpr
  sqrt(): TimeExpr
  sin(): TimeExpr
  cos(): TimeExpr
  /** x^p; a constant p gives a `pow` node, an expression p lowers to exp(p·log x). */
  pow(p: TimeLike): TimeExpr
  square(): TimeExpr
  max(x: TimeLike): TimeExpr
  min(x: TimeLike): TimeExpr
  toString(): string
}

/** A finite constant. */
export interface Const extends TimeOps { readonly kind: "const"; readonly value: number }
/** The time variable (for an inverse CDF: the uniform variate u). */
export interface Var extends TimeOps { readonly kind: "t" }
/** n-ary sum. */
export interface Add extends TimeOps { readonly kind: "add"; readonly terms: readonly TimeExpr[] }
/** n-ary product. */
export interface Mul extends TimeOps { readonly kind: "mul"; readonly factors: readonly TimeExpr[] }
/** A unary elementary function of `arg`. */
export interface Unary<K extends "neg" | "recip" | "exp" | "log" | "sqrt" | "sin" | "cos"> extends TimeOps {
  readonly kind: K
  readonly arg: TimeExpr
}
/** base^exponent with a constant exponent. */
export interface Pow extends TimeOps { readonly kind: "pow"; readonly base: TimeExpr; readonly exponent: number }
/** Pointwise max/min of two expressions (used for the flat part of a truncated density). */
export interface Extremum<K extends "max" | "min"> extends TimeOps {
  readonly kind: K
  readonly a: TimeExpr
  readonly b: TimeExpr
}
/**
 * Values on the uniform grid t0 … t1 (values.length ≥ 2 points), linearly interpolated at `at`
 * and clamped to the end values outside [t0, t1]. `at` is usually t, or log(t) for a log-spaced grid.
 * Treat `values` as read-only: it is a private copy that a compiler may upload as is.
 */
export interface Table extends TimeOps {
  readonly kind: "table"
  readonly t0: number
  readonly t1: number
  readonly values: Float64Array
  readonly at: TimeExpr
}

/** A symbolic scalar function of t. */
export type TimeExpr =
  | Const | Var | Add | Mul | Pow | Table
  | Unary<"neg"> | Unary<"recip"> | Unary<"exp"> | Unary<"log"> | Unary<"sqrt"> | Unary<"sin"> | Unary<"cos">
  | Extremum<"max"> | Extremum<"min">
