/**
 * What a layer is: an ordered table of parameter declarations (PyTorch state_dict names → shape and
 * initialiser) plus a pure `apply(params, ...inputs)` that builds graph. Layers compose by name prefix,
 * so a network's table lists its parameters in exactly the order its PyTorch twin's `state_dict` does.
 */
import { programError } from "../ir/errors.ts"
import { sizeOf } from "../ir/shape.ts"
import type { Tensor } from "../ir/tensor.ts"
import type { Init } from "./initializer.ts"

/** One parameter: its shape and how to initialise it. */
export interface ParamDecl {
  readonly shape: readonly number[]
  readonly init: Init
}

/** Parameter declarations in state_dict order (JS objects keep string-key insertion order). */
export type ParamDecls = Readonly<Record<string, ParamDecl>>

/** Parameter shapes by name: what `compile` takes as input specs. */
export type ParamSpec = Readonly<Record<string, readonly number[]>>

/** Parameter values as graph tensors; extra entries (data inputs such as x, t) are ignored. */
export type Params = Readonly<Record<string, Tensor>>

/** A layer: declared parameters and a pure function of (params, inputs) → output graph. */
export interface Layer<In extends readonly Tensor[]> {
  readonly params: ParamDecls
  readonly apply: (params: Params, ...inputs: In) => Tensor
}

/** `prefix.name`, or `name` when the prefix is empty (a root module). */
export const qualify = (prefix: string, name: string): string => (prefix === "" ? name : `${prefix}.${name}`)

/** Concatenates declaration tables in order; a repeated name is a construction bug, so it throws. */
export const mergeParams = (...tables: readonly ParamDecls[]): ParamDecls => {
  const merged: Record<string, ParamDecl> = {}
  for (const table of tables)
    for (const [name, decl] of Object.entries(table)) {
      if (name in merged) throw programError("nn", `parameter "${name}" is declared twice`)
      merged[name] = decl
    }
  return merged
}

/** Looks up a declared parameter, checking its shape, with errors that name the parameter. */
export const param = (params: Params, name: string, shape: readonly number[]): Tensor => {
  const value = params[name]
  if (value === undefined) throw programError("nn", `missing parameter "${name}" of shape [${shape.join(", ")}]`)
  if (value.shape.length !== shape.length || value.shape.some((d, i) => d !== shape[i]))
    throw programError("nn", `parameter "${name}" has shape [${value.shape.join(", ")}], expected [${shape.join(", ")}]`)
  return value
}

/** Shapes by name, in declaration order: spread into `compile`'s input specs. */
export const specOf = (layer: { readonly params: ParamDecls }): Record<string, number[]> =>
  Object.fromEntries(Object.entries(layer.params).map(([name, d]) => [name, [...d.shape]]))

/** Total number of scalar parameters. */
export const parameterCount = (layer: { readonly params: ParamDecls }): number =>
  Object.values(layer.params).reduce((n, d) => n + sizeOf(d.shape), 0)
