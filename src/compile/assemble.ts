/**
 * In-place concatenation: a concat whose parts occupy contiguous ranges of its buffer is never computed
 * by a kernel of its own. Each part's kernel writes straight into its range instead ("assembles" the
 * concat), so joining N tensors costs no copy and no kernel that binds all N. The training step uses
 * this to lay every gradient into one flat vector, which one optimizer kernel then updates.
 *
 * A concat qualifies when it is materialised, only leading size-1 axes precede its axis (so each part
 * is one contiguous range of the flat buffer), every part can be given a kernel of its own (it is
 * computed, not an input or constant data; no program output; read by nothing outside the concat),
 * and at least half of the parts have a kernel already.
 * Parts that are themselves concats (`concat` nests past four parts) are assembled recursively. A part
 * found at several places (two parameters with one gradient, which the graph shares) is written by a
 * kernel of its own at each: a clone of its node recomputes it, so no kernel reads a placed part back.
 * Otherwise the concat stays an ordinary kernel: a partial assembly would still need that kernel.
 */
import { makeNode, type Node } from "../ir/node.ts"
import { sizeOf } from "../ir/shape.ts"
import { isSource } from "./schedule.ts"

/** Where a kernel root writes when it is part of an assembled concat: `into`'s buffer, from `offset`. */
export interface Placement {
  readonly into: Node
  /** Element offset of the part's first element in `into`'s flat buffer. */
  readonly offset: number
}

export interface Assembly {
  /** Kernel roots that write into an assembled concat (newly materialised ones included). */
  readonly placements: ReadonlyMap<number, Placement>
  /** Materialised concats no kernel computes: their parts' kernels fill them. */
  readonly assembled: ReadonlySet<number>
  /** Kernel roots added for repeated parts, by the id of the part each recomputes (they run after it). */
  readonly clones: ReadonlyMap<number, readonly Node[]>
}

const contiguous = (concat: Node): boolean => concat.op.kind === "concat" && concat.shape.slice(0, concat.op.axis).every((d) => d === 1)

/**
 * Finds the concats to assemble, and adds their parts to `materialised` (every part needs a kernel).
 * `outputs` are the program's output ids. Outer concats are tried first, so a concat inside an
 * assembled one is assembled with it.
 */
export const assembleConcats = (order: readonly Node[], materialised: Set<number>, outputs: ReadonlySet<number>): Assembly => {
  const readers = new Map<number, number>()
  for (const n of order) for (const i of new Set(n.inputs)) readers.set(i.id, (readers.get(i.id) ?? 0) + 1)
  const placements = new Map<number, Placement>()
  const assembled = new Set<number>()
  const clones = new Map<number, Node[]>()

  /** The leaves of the concat tree at `concat` at their offsets (adding its concats to `tree`), or undefined when one cannot have its own kernel. */
  const leavesOf = (concat: Node, base: number, tree: Node[]): [Node, number][] | undefined => {
    tree.push(concat)
    const found: [Node, number][] = []
    let offset = base
    for (const part of concat.inputs) {
      if (isSource(part) || outputs.has(part.id)) return undefined
      const nested = !contiguous(part) ? [[part, offset] as [Node, number]] : readers.get(part.id) === 1 ? leavesOf(part, offset, tree) : undefined
      if (!nested) return undefined
      found.push(...nested)
      offset += sizeOf(part.shape)
    }
    return found
  }

  for (const n of [...order].reverse()) {
    if (!materialised.has(n.id) || !contiguous(n) || assembled.has(n.id)) continue
    const tree: Node[] = []
    const leaves = leavesOf(n, 0, tree)
    if (!leaves) continue
    const distinct = [...new Map(leaves.map(([p]) => [p.id, p])).values()]
    // Every reader of a leaf must be a concat of this tree.
    if (distinct.some((p) => tree.filter((c) => c.inputs.includes(p)).length !== readers.get(p.id))) continue
    // Parts fused into the concat's kernel would each need a kernel of their own: worth it only when
    // most parts have one anyway (their copy into the concat is what assembling saves).
    if (2 * distinct.filter((p) => materialised.has(p.id)).length < distinct.length) continue
    // Inner concats are no buffers of their own: their leaves are placed into `n` directly.
    for (const c of tree) assembled.add(c.id)
    const placed = new Set<number>()
    for (const [part, offset] of leaves) {
      const root = placed.has(part.id) ? makeNode(part.op, part.inputs, part.shape, part.dtype) : part
      if (root !== part) clones.set(part.id, [...(clones.get(part.id) ?? []), root])
      placed.add(part.id)
      materialised.add(root.id)
      placements.set(root.id, { into: n, offset })
    }
  }
  return { placements, assembled, clones }
}
