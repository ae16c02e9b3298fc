/**
 * The state of an SDE: one tensor, or a record of tensors (`{ q, p }` for a position–velocity system).
 * Solvers are written once against named fields; these helpers move between the user's form and fields.
 */
import { Tensor } from "../src/ir/tensor.ts"
import { invalid } from "./errors.ts"

export type State = Tensor | { readonly [field: string]: Tensor }

/** The shape of a state of type S: an array for a tensor, a record of arrays for a record state. */
export type ShapeOf<S extends State> = S extends Tensor ? readonly number[] : { readonly [K in keyof S]: readonly number[] }

/** A value per field of a state of type S (host arrays, device values, …). */
export type FieldsOf<S extends State, V> = S extends Tensor ? V : { readonly [K in keyof S]: V }

/** The field name a tensor state is stored under. */
export const TENSOR_FIELD = "x"

export type Fields = Readonly<Record<string, Tensor>>

/** The fields of a state, by name (a tensor state has the one field `x`). */
export const fieldsOf = (state: State, path = "state"): Fields => {
  if (state instanceof Tensor) return { [TENSOR_FIELD]: state }
  if (typeof state !== "object" || state === null) throw invalid(path, state, "a state is a Tensor or a record of Tensors")
  const entries = Object.entries(state)
  if (entries.length === 0) throw invalid(path, state, "a record state needs at least one field")
  for (const [name, value] of entries) if (!(value instanceof Tensor)) throw invalid(`${path}.${name}`, value, "each field of a record state is a Tensor")
  return state
}

/** The state with the structure of `like` (a tensor, or the record's fields) holding `fields`. */
export const stateLike = <S extends State>(like: S | ShapeOf<S>, fields: Fields): S =>
  (isTensorShaped(like) ? fields[TENSOR_FIELD]! : { ...fields }) as S

/** True for a tensor state, or for the shape of one (an array). */
export const isTensorShaped = (like: unknown): boolean => like instanceof Tensor || Array.isArray(like)

/** The field names and shapes of a state shape. */
export const fieldShapes = (shape: ShapeOf<State>): Readonly<Record<string, readonly number[]>> =>
  Array.isArray(shape) ? { [TENSOR_FIELD]: shape as readonly number[] } : (shape as Readonly<Record<string, readonly number[]>>)

/** Applies `f` field by field to states of the same structure. */
export const mapFields = (f: (...values: Tensor[]) => Tensor, ...states: Fields[]): Fields => {
  const names = Object.keys(states[0]!)
  return Object.fromEntries(names.map((name) => [name, f(...states.map((s) => s[name]!))]))
}
