/** Typed failures of the symbolic time-function layer; each `message` names the offending expression. */
import { Data } from "effect"

/** A constant (given or produced by a builder) is NaN or ±∞. */
export class NonFiniteConstant extends Data.TaggedError("NonFiniteConstant")<{
  readonly message: string
  readonly value: number
  readonly expression: string
}> {}

/** No closed form was found and quadrature was switched off (or the integral is improper). */
export class NotIntegrable extends Data.TaggedError("NotIntegrable")<{
  readonly message: string
  readonly expression: string
}> {}

/** d/dt is not defined symbolically for this node (max/min have no step function to express it). */
export class NotDifferentiable extends Data.TaggedError("NotDifferentiable")<{
  readonly message: string
  readonly expression: string
}> {}

/** The time horizon is unusable: T ≤ ε, ε ≤ 0, or a non-finite bound. */
export class InvalidHorizon extends Data.TaggedError("InvalidHorizon")<{
  readonly message: string
  readonly eps: number
  readonly T: number
}> {}

/** The derived marginal variance is ≤ 0 (or not finite) somewhere on (0, T]. */
export class NonPositiveVariance extends Data.TaggedError("NonPositiveVariance")<{
  readonly message: string
  readonly t: number
  readonly value: number
  readonly expression: string
}> {}

/** The unnormalised importance weight g²/σ² is ≤ 0 or not finite somewhere on [ε, T]. */
export class ImproperDensity extends Data.TaggedError("ImproperDensity")<{
  readonly message: string
  readonly t: number
  readonly value: number
  readonly expression: string
}> {}
