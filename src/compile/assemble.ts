/**
 * In-place concatenation: a concat whose parts occupy contiguous ranges of its buffer is never computed
 * by a kernel of its own. Each part's kernel writes straight into its range instead ("assembles" the
 * concat), so joining N tensors costs no copy and no kernel that binds all N. The training step uses
 * this to lay every gradient into one flat vector, which one optimizer kernel then updates.
 *
 * A concat qualifies when it is materialised, only leading size-1 axes precede its axis (so each part
 * is one contiguous range of the flat buffer), every part can be given a kernel of its own (it is
 * computed, not an input or constant data; no program output; read by nothing but the concat), and at
 * least half of the parts have a kernel already.
 * Parts that are themselves concats (`concat` nests past four parts) are assembled recursively.
 * Otherwise the concat stays an ordinary kernel: a partial assembly would still need that kernel.
 */
import type { Node } from "../ir/node.ts"
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
}

const contiguous = (concat: Node): boolean => concat.op.kind === "concat" && concat.shape.slice(0, concat.op.axis).every((d) => d === 1)

/**
 * Finds the concats to assemble, and adds their parts to `materialised` (every part needs a kernel).
 * `outputs` are the program's output ids. A concat assembled on its own and then found inside a bigger
 * one that also qualifies has its parts re-placed into the bigger one (`order` is inputs first).
 */
export const assembleConcats = (order: readonly Node[], materialised: Set<number>, outputs: ReadonlySet<number>): Assembly => {
  const readers = new Map<number, number>()
  for (const n of order) for (const i of new Set(n.inputs)) readers.set(i.id, (readers.get(i.id) ?? 0) + 1)
  const placements = new Map<number, Placement>()
  const assembled = new Set<number>()

  /** The parts' kernel roots at their offsets, or undefined when some part cannot have its own kernel. */
  const partsOf = (concat: Node, base: number): [Node, number][] | undefined => {
    const found: [Node, number][] = []
    let offset = base
    for (const part of concat.inputs) {
      if (isSource(part) || outputs.has(part.id) || readers.get(part.id) !== 1) return undefined
      const nested = contiguous(part) ? partsOf(part, offset) : [[part, offset] as [Node, number]]
      if (!nested) return undefined
      found.push(...nested)
      offset += sizeOf(part.shape)
    }
    return found
  }

  for (const n of order) {
    if (!materialised.has(n.id) || !contiguous(n)) continue
    const parts = partsOf(n, 0)
    // Parts fused into the concat's kernel would each need a kernel of their own: worth it only when
    // most parts have one anyway (their copy into the concat is what assembling saves).
    if (!parts || 2 * parts.filter(([p]) => materialised.has(p.id)).length < parts.length) continue
    assembled.add(n.id)
    for (const [part, offset] of parts) {
      materialised.add(part.id)
      placements.set(part.id, { into: n, offset })
    }
  }
  return { placements, assembled }
}
