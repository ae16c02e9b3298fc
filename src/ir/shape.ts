/** Shape arithmetic: sizes, strides, NumPy broadcasting, axis normalisation. */
import { programError, shapeError } from "./errors.ts"

export type Shape = readonly number[]

export const sizeOf = (shape: Shape): number => shape.reduce((a, b) => a * b, 1)

/** Row-major strides in elements. */
export const stridesOf = (shape: Shape): number[] => {
  const strides = new Array<number>(shape.length)
  let s = 1
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s
    s *= shape[i]!
  }
  return strides
}

export const sameShape = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => d === b[i])

/** NumPy broadcasting of any number of shapes; throws ShapeError naming all of them. */
export const broadcastShapes = (op: string, ...shapes: Shape[]): number[] => {
  const rank = Math.max(...shapes.map((s) => s.length))
  const out = new Array<number>(rank).fill(1)
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const j = rank - s.length + i
      const d = s[i]!
      if (d === out[j] || d === 1) continue
      if (out[j] === 1) out[j] = d
      else throw shapeError(op, shapes, `cannot broadcast dimension ${i} (${d} vs ${out[j]})`)
    }
  }
  return out
}

/** Axes as sorted non-negative integers; negative axes count from the end. */
export const normalizeAxes = (op: string, axes: number | readonly number[] | undefined, rank: number): number[] => {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i)
  const list = typeof axes === "number" ? [axes] : [...axes]
  const out = list.map((a) => {
    if (!Number.isInteger(a) || a < -rank || a >= rank) throw programError(op, `axis ${a} is out of range for rank ${rank}`)
    return a < 0 ? a + rank : a
  })
  if (new Set(out).size !== out.length) throw programError(op, `repeated axis in [${list.join(", ")}]`)
  return out.sort((a, b) => a - b)
}

export const checkShape = (op: string, shape: Shape): void => {
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) throw programError(op, `invalid shape [${shape.join(", ")}]`)
}
