/**
 * The memory plan: a buffer slot for every materialised value. Inputs and outputs keep their own
 * slots; intermediates share slots once their last reader has run (liveness over kernel order).
 */
import type { DType, Node } from "../ir/node.ts"
import { sizeOf } from "../ir/shape.ts"
import type { Slot } from "./program.ts"

export interface MemoryPlan {
  readonly slots: Slot[]
  readonly slotOf: Map<number, number>
  /** Slot of the i-th program output (outputs of one node get one slot each, so callers can tell them apart). */
  readonly outputSlot: Map<number, number>
}

const storageBytes = (n: Node): number => Math.max(4, sizeOf(n.shape) * 4)

export const planMemory = (
  groups: readonly (readonly Node[])[],
  inputs: readonly Node[],
  outputs: readonly Node[],
  materialised: ReadonlySet<number>,
): MemoryPlan => {
  const slots: Slot[] = []
  const slotOf = new Map<number, number>()
  const newSlot = (bytes: number, dtype: DType): number => slots.push({ bytes, dtype }) - 1
  for (const n of inputs) slotOf.set(n.id, newSlot(storageBytes(n), n.dtype))
  const outputIds = new Set(outputs.map((o) => o.id))

  // Last kernel index that reads each materialised node.
  const lastRead = new Map<number, number>()
  const readsOf = (root: Node): Set<number> => {
    const found = new Set<number>()
    const walk = (n: Node): void => {
      for (const i of n.inputs) {
        if (materialised.has(i.id)) found.add(i.id)
        else walk(i)
      }
    }
    walk(root)
    return found
  }
  groups.forEach((members, k) => members.forEach((root) => readsOf(root).forEach((id) => lastRead.set(id, k))))

  const free: number[] = []
  const releaseAfter = new Map<number, number[]>()
  // Every member of a group gets its slot before any slot is released, so outputs of one kernel
  // never alias each other.
  groups.forEach((members, k) => {
    for (const root of members) {
      if (outputIds.has(root.id)) slotOf.set(root.id, newSlot(storageBytes(root), root.dtype))
      else {
        const bytes = storageBytes(root)
        const reuse = free.findIndex((s) => slots[s]!.bytes === bytes && slots[s]!.dtype === root.dtype)
        slotOf.set(root.id, reuse >= 0 ? free.splice(reuse, 1)[0]! : newSlot(bytes, root.dtype))
        // A value no later kernel reads is dead at once; otherwise it frees after its last reader.
        const last = Math.max(lastRead.get(root.id) ?? k, k)
        releaseAfter.set(last, [...(releaseAfter.get(last) ?? []), slotOf.get(root.id)!])
      }
    }
    for (const s of releaseAfter.get(k) ?? []) free.push(s)
  })

  const outputSlot = new Map<number, number>()
  outputs.forEach((o, i) => outputSlot.set(i, slotOf.get(o.id)!))
  return { slots, slotOf, outputSlot }
}
