/**
 * The memory plan: a buffer slot for every materialised value. Inputs and outputs keep their own
 * slots; intermediates share slots once their last reader has run (liveness over kernel order).
 */
import type { DType, Node } from "../ir/node.ts"
import { sizeOf } from "../ir/shape.ts"
import type { Placement } from "./assemble.ts"
import { kernelReads } from "./kernel-reads.ts"

/** A buffer: its size, and the element type of what it holds. */
export interface Slot {
  readonly bytes: number
  readonly dtype: DType
}

export interface MemoryPlan {
  readonly slots: Slot[]
  readonly slotOf: Map<number, number>
  /** Element offset at which a node starts in its slot (0 unless it is part of an assembled concat). */
  readonly offsetOf: Map<number, number>
  /** Slot of the i-th program output (outputs of one node get one slot each, so callers can tell them apart). */
  readonly outputSlot: Map<number, number>
}

const storageBytes = (n: Node): number => Math.max(4, sizeOf(n.shape) * 4)

export const planMemory = (
  groups: readonly (readonly Node[])[],
  inputs: readonly Node[],
  outputs: readonly Node[],
  materialised: ReadonlySet<number>,
  placements: ReadonlyMap<number, Placement> = new Map(),
): MemoryPlan => {
  const slots: Slot[] = []
  const slotOf = new Map<number, number>()
  const newSlot = (bytes: number, dtype: DType): number => slots.push({ bytes, dtype }) - 1
  for (const n of inputs) slotOf.set(n.id, newSlot(storageBytes(n), n.dtype))
  const outputIds = new Set(outputs.map((o) => o.id))

  // Last kernel index that reads each materialised node.
  const lastRead = new Map<number, number>()
  groups.forEach((members, k) => members.forEach((root) => kernelReads(root, materialised).reads.forEach((n) => lastRead.set(n.id, k))))
  // An assembled concat lives from its first part's kernel until its last reader, and at least until
  // its last part is written.
  groups.forEach((members, k) =>
    members.forEach((root) => {
      const into = placements.get(root.id)?.into
      if (into) lastRead.set(into.id, Math.max(lastRead.get(into.id) ?? k, k))
    }),
  )

  const free: number[] = []
  const releaseAfter = new Map<number, number[]>()
  // Every member of a group gets its slot before any slot is released, so outputs of one kernel
  // never alias each other.
  const offsetOf = new Map<number, number>()
  const allocate = (node: Node, k: number): void => {
    if (outputIds.has(node.id)) slotOf.set(node.id, newSlot(storageBytes(node), node.dtype))
    else {
      const bytes = storageBytes(node)
      const reuse = free.findIndex((s) => slots[s]!.bytes === bytes && slots[s]!.dtype === node.dtype)
      slotOf.set(node.id, reuse >= 0 ? free.splice(reuse, 1)[0]! : newSlot(bytes, node.dtype))
      // A value no later kernel reads is dead at once; otherwise it frees after its last reader.
      const last = Math.max(lastRead.get(node.id) ?? k, k)
      releaseAfter.set(last, [...(releaseAfter.get(last) ?? []), slotOf.get(node.id)!])
    }
  }
  groups.forEach((members, k) => {
    for (const root of members) {
      const placement = placements.get(root.id)
      if (!placement) {
        allocate(root, k)
        continue
      }
      if (!slotOf.has(placement.into.id)) allocate(placement.into, k)
      slotOf.set(root.id, slotOf.get(placement.into.id)!)
      offsetOf.set(root.id, placement.offset)
    }
    for (const s of releaseAfter.get(k) ?? []) free.push(s)
  })

  const outputSlot = new Map<number, number>()
  outputs.forEach((o, i) => outputSlot.set(i, slotOf.get(o.id)!))
  return { slots, slotOf, offsetOf, outputSlot }
}
