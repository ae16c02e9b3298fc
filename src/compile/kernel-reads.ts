/**
 * What a kernel reads: the walk from a kernel root down through the work fused into it, stopping at
 * materialised values. The fusion rule (binding limits), sibling grouping and the memory plan
 * (liveness) all ask it, so they agree on what a kernel binds.
 */
import { contractionKinds, type Node } from "../ir/node.ts"

export interface KernelReads {
  /** The distinct materialised nodes the kernel rooted at `root` binds, in the order the walk meets them. */
  readonly reads: Set<Node>
  /** No reduction or contraction below the root or at it: each thread's work is elementwise. */
  readonly loopFree: boolean
}

/** A node whose thread loops over many elements (a reduction or a contraction). */
export const isLoop = (n: Node): boolean => n.op.kind === "reduce" || contractionKinds.has(n.op.kind)

/**
 * The storage reads of a kernel rooted at `root`. Scalar inputs travel as uniforms and take no storage
 * binding, so they are left out; every other materialised value (0-d ones too) is a read.
 */
export const kernelReads = (root: Node, materialised: ReadonlySet<number>): KernelReads => {
  const reads = new Set<Node>()
  let loopFree = !isLoop(root)
  const seen = new Set<number>()
  const walk = (n: Node): void => {
    for (const i of n.inputs) {
      if (seen.has(i.id)) continue
      seen.add(i.id)
      if (materialised.has(i.id)) {
        if (i.shape.length > 0 || i.op.kind !== "input") reads.add(i)
      } else {
        if (isLoop(i)) loopFree = false
        walk(i)
      }
    }
  }
  walk(root)
  return { reads, loopFree }
}
