/**
 * Time expressions: symbolic functions of the SDE's time, and the linear-SDE math derived from them (pure TS,
 * float64) — simplified, differentiated, integrated, and lowered into kernels. `t` is their variable, `constant(c)`
 * a constant function, `lerp(a, b)` a linear schedule; from "sdeflow" they are `time.t`, `time.constant`,
 * `time.lerp`. `linearSde` takes its `f` and `g` as time expressions.
 * @module
 */
export {
  add, constant, cos, dependsOnT, exp, lerp, log, max, min, mul, neg, pow, recip, sin, sqrt, substitute, t, table,
  timeExprKinds,
} from "./expr.ts"
export type { Add, Const, Extremum, Mul, Pow, Table, TimeExpr, TimeExprKind, TimeLike, TimeOps, Unary, Var } from "./expr.ts"
export { evaluate, evaluateAt, interpolate } from "./evaluate.ts"
export { show } from "./show.ts"
export { simplify, expand } from "./simplify.ts"
export { derivative } from "./derivative.ts"
export { integrate } from "./integrate.ts"
export type { Integral, IntegralMethod, IntegrateOptions } from "./integrate.ts"
export { linearMarginals } from "./linear.ts"
export type { LinearMarginals, LinearSdeCoefficients } from "./linear.ts"
export { importanceDensity } from "./importance.ts"
export type { ImportanceDensity, ImportanceSpec } from "./importance.ts"
export { ImproperDensity, InvalidHorizon, NonFiniteConstant, NonPositiveVariance, NotDifferentiable, NotIntegrable } from "./errors.ts"
