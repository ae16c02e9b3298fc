/**
 * Sibling fusion: kernels that compute same-sized elementwise results from related data run as one
 * kernel with several outputs. An optimizer step is the archetype — new parameters, both Adam moments
 * and the EMA come from the same per-element values, so they are computed once and written together
 * instead of in four kernels that re-read each other's results.
 */
import type { Node } from "../ir/node.ts"
import { sizeOf } from "../ir/shape.ts"
import { kernelReads } from "./kernel-reads.ts"

const elementwise = new Set(["unary", "binary", "where", "cast", "const", "random", "detach"])

/** True when every path from `root` to a node of `members` is elementwise at the same shape (one-to-one). */
const readsMembersOneToOne = (root: Node, members: ReadonlySet<number>, materialised: ReadonlySet<number>): boolean => {
  const walk = (n: Node, identity: boolean): boolean =>
    n.inputs.every((i) => {
      if (members.has(i.id)) return identity && sizeOf(i.shape) === sizeOf(root.shape) && i.shape.join() === n.shape.join()
      if (materialised.has(i.id)) return true
      return walk(i, identity && elementwise.has(i.op.kind) && i.shape.join() === root.shape.join())
    })
  return walk(root, elementwise.has(root.op.kind))
}

/**
 * Groups kernel roots (in execution order) into multi-output kernels. A root joins the latest group
 * that has the same size, is loop-free like it, has all of its other inputs ready by the group's
 * position, reads the group's members only element for element, is related to it (reads a member
 * or shares an input), and still fits the binding limit.
 */
export const groupSiblings = (roots: readonly Node[], materialised: ReadonlySet<number>, maxStorageBuffers: number, maxOutputs = 4): Node[][] => {
  const groups: { members: Node[]; reads: Set<Node>; loopFree: boolean }[] = []
  const groupOf = new Map<number, number>()
  for (const root of roots) {
    const info = kernelReads(root, materialised)
    const target = info.loopFree ? findGroup(root, info.reads) : undefined
    if (target === undefined) {
      groupOf.set(root.id, groups.length)
      groups.push({ members: [root], reads: info.reads, loopFree: info.loopFree })
      continue
    }
    const group = groups[target]!
    group.members.push(root)
    for (const r of info.reads) if (!group.members.includes(r)) group.reads.add(r)
    for (const m of group.members) group.reads.delete(m)
    groupOf.set(root.id, target)
  }
  return groups.map((g) => g.members)

  /** The nearest of the last few groups the root may join. */
  function findGroup(root: Node, reads: ReadonlySet<Node>): number | undefined {
    for (let g = groups.length - 1; g >= Math.max(0, groups.length - 8); g--) if (fits(g, root, reads)) return g
    return undefined
  }

  function fits(g: number, root: Node, reads: ReadonlySet<Node>): boolean {
    const group = groups[g]
    if (!group || !group.loopFree || group.members.length >= maxOutputs) return false
    if (sizeOf(group.members[0]!.shape) !== sizeOf(root.shape)) return false
    const memberIds = new Set(group.members.map((m) => m.id))
    const others = [...reads].filter((r) => !memberIds.has(r.id))
    // Every other input must already exist when the group runs (a source, or an earlier group's).
    if (others.some((r) => groupOf.has(r.id) && groupOf.get(r.id)! >= g)) return false
    const related = [...reads].some((r) => memberIds.has(r.id) || group.reads.has(r))
    if (!related || !readsMembersOneToOne(root, memberIds, materialised)) return false
    const bindings = new Set([...group.reads, ...others]).size + group.members.length + 1
    return bindings <= maxStorageBuffers
  }
}
