/**
 * Movement chains that are plain strided views of a buffer (offset + Σ index·stride). Contraction
 * templates read their operands through these, so a transposed or broadcast operand costs nothing.
 */
import type { Node } from "../ir/node.ts"
import { stridesOf } from "../ir/shape.ts"

export interface StridedView {
  /** The materialised node whose buffer is read. */
  readonly source: Node
  readonly offset: number
  /** One stride per axis of the viewed node (0 for broadcast axes). */
  readonly strides: readonly number[]
}

const isRowMajor = (strides: readonly number[], shape: readonly number[]): boolean => {
  const expected = stridesOf(shape)
  return shape.every((d, i) => d === 1 || strides[i] === expected[i])
}

/** `node` as a strided view of a materialised node, or undefined when its index map is not affine. */
export const stridedView = (node: Node, isMaterialised: (n: Node) => boolean): StridedView | undefined => {
  if (isMaterialised(node)) return { source: node, offset: 0, strides: stridesOf(node.shape) }
  const op = node.op
  const inner = node.inputs[0] && ["permute", "expand", "slice", "detach", "reshape"].includes(op.kind) ? stridedView(node.inputs[0], isMaterialised) : undefined
  if (!inner) return undefined
  const x = node.inputs[0]!
  switch (op.kind) {
    case "detach":
      return inner
    case "permute":
      return { ...inner, strides: op.perm.map((p) => inner.strides[p]!) }
    case "expand":
      return { ...inner, strides: inner.strides.map((s, i) => (x.shape[i] === 1 && node.shape[i] !== 1 ? 0 : s)) }
    case "slice":
      return {
        source: inner.source,
        offset: inner.offset + op.starts.reduce((o, s, i) => o + s * inner.strides[i]!, 0),
        strides: inner.strides.map((s, i) => s * op.steps[i]!),
      }
    case "reshape": {
      // Reshaping a contiguous view stays contiguous; dropping or adding size-1 axes keeps the strides.
      if (isRowMajor(inner.strides, x.shape)) return { ...inner, strides: stridesOf(node.shape) }
      const kept = inner.strides.filter((_, i) => x.shape[i] !== 1)
      const shapeKept = node.shape.filter((d) => d !== 1)
      if (shapeKept.join() !== x.shape.filter((d) => d !== 1).join()) return undefined
      let next = 0
      return { ...inner, strides: node.shape.map((d) => (d === 1 ? 0 : kept[next++]!)) }
    }
    default:
      return undefined
  }
}
