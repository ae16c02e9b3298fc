/** Symbolic functions of time and the linear-SDE math derived from them (pure TS, float64). */
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
