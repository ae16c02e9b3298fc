/** Typed misuse errors of the SDE DSL, each naming the offending value. */
import { Data } from "effect"

/** An option outside its domain (λ ∉ [0, 1], ε ≥ T, steps < 1, …): `option` names it. */
export class InvalidOption extends Data.TaggedError("InvalidOption")<{
  readonly message: string
  readonly option: string
  readonly value: unknown
}> {}

export const invalid = (option: string, value: unknown, why: string): InvalidOption =>
  new InvalidOption({ option, value, message: `${option} = ${JSON.stringify(value)}: ${why}` })
