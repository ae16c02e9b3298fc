/**
 * All of a network's parameters as one flat vector. Each parameter is a view (slice + reshape) of it,
 * so a contraction reads its weights in place; the gradients joined back with `flatten` are written by
 * their own kernels straight into one buffer (an in-place concat), and the optimizer then updates every
 * parameter, both moments and the EMA in ONE elementwise kernel over the whole vector.
 * Names and order are the declaration table's (the state_dict's); checkpoints stay per-tensor.
 */
import { programError } from "../ir/errors.ts"
import { sameShape, sizeOf } from "../ir/shape.ts"
import { concat, type Tensor } from "../ir/tensor.ts"
import type { ParamDecls } from "./module.ts"
import type { HostParams } from "./optim.ts"

export interface ParamLayout {
  /** Parameter names in declaration order. */
  readonly names: readonly string[]
  readonly shapes: Readonly<Record<string, readonly number[]>>
  /** Element offset of each parameter in the flat vector. */
  readonly offsets: Readonly<Record<string, number>>
  /** Total number of scalars. */
  readonly size: number
}

/** The layout of a declaration table (or of plain shapes by name), parameters back to back in order. */
export const paramLayout = (params: ParamDecls | Readonly<Record<string, readonly number[]>>): ParamLayout => {
  const names = Object.keys(params)
  if (names.length === 0) throw programError("paramLayout", "needs at least one parameter")
  const shapes: Record<string, readonly number[]> = {}
  const offsets: Record<string, number> = {}
  let size = 0
  for (const name of names) {
    const entry = params[name]!
    const shape = Array.isArray(entry) ? (entry as readonly number[]) : (entry as { shape: readonly number[] }).shape
    shapes[name] = [...shape]
    offsets[name] = size
    size += sizeOf(shape)
  }
  return { names, shapes, offsets, size }
}

const checkFlat = (op: string, flat: { readonly shape: readonly number[] }, layout: ParamLayout): void => {
  if (!sameShape(flat.shape, [layout.size]))
    throw programError(op, `the flat parameter vector has shape [${flat.shape.join(", ")}], the layout needs [${layout.size}]`)
}

/** Every parameter as a view of `flat` (no copies: slices and reshapes are index arithmetic). */
export const unflatten = (flat: Tensor, layout: ParamLayout): Record<string, Tensor> => {
  checkFlat("unflatten", flat, layout)
  return Object.fromEntries(
    layout.names.map((name) => {
      const offset = layout.offsets[name]!
      const shape = layout.shapes[name]!
      return [name, flat.slice([offset], [offset + sizeOf(shape)]).reshape(shape)]
    }),
  )
}

/** Tensors by parameter name joined into one flat vector in layout order (shapes must match the layout). */
export const flatten = (tensors: Readonly<Record<string, Tensor>>, layout: ParamLayout): Tensor => {
  for (const name of layout.names) {
    const t = tensors[name]
    if (!t) throw programError("flatten", `no tensor for parameter "${name}"`)
    if (!sameShape(t.shape, layout.shapes[name]!))
      throw programError("flatten", `"${name}" has shape [${t.shape.join(", ")}], the layout [${layout.shapes[name]!.join(", ")}]`)
  }
  return concat(layout.names.map((name) => tensors[name]!.reshape([-1])))
}

/** Host values by name packed into one flat float32 vector in layout order. */
export const packHost = (values: Readonly<Record<string, ArrayLike<number>>>, layout: ParamLayout): Float32Array => {
  const flat = new Float32Array(layout.size)
  for (const name of layout.names) {
    const v = values[name]
    const expected = sizeOf(layout.shapes[name]!)
    if (!v) throw programError("packHost", `no values for parameter "${name}"`)
    if (v.length !== expected) throw programError("packHost", `"${name}" has ${v.length} values, its shape [${layout.shapes[name]!.join(", ")}] holds ${expected}`)
    flat.set(v, layout.offsets[name]!)
  }
  return flat
}

/** A flat host vector split back into tensors by name (copies, so the result outlives `flat`). */
export const unpackHost = (flat: Float32Array, layout: ParamLayout): HostParams => {
  checkFlat("unpackHost", { shape: [flat.length] }, layout)
  return Object.fromEntries(
    layout.names.map((name) => {
      const offset = layout.offsets[name]!
      const shape = layout.shapes[name]!
      return [name, { shape: [...shape], data: flat.slice(offset, offset + sizeOf(shape)) }]
    }),
  )
}
