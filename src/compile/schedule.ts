/**
 * The fusion rule — the one place that decides which graph nodes get their own buffer.
 *
 * A node is materialised (written to memory by a kernel of its own) when it is
 *   1. a program output;
 *   2. a reduction or contraction result — unless its single consumer reads it element for element
 *      (a same-shape elementwise op or a reshape), which then becomes the kernel's epilogue;
 *   3. an operand of a contraction that is not a pure view of memory (contractions re-read operands) —
 *      judged again once every loop-carrying value has its buffer, for operands of plain loops only;
 *   4. consumed by ≥ 2 ops, unless it is cheap elementwise work that is recomputed instead (a concat
 *      read twice is always materialised: see assemble.ts);
 *   5. needed to keep a kernel within `maxStorageBuffersPerShaderStage`;
 *   6. a transposed right operand of tiled matmuls (x·Wᵀ) much smaller than their outputs: one small copy
 *      lets the template read it row-major (vec4 columns) instead of along k, the slower form;
 *   7. read twice, costing more than one op, and read by a tiled contraction's epilogue (see
 *      `materialiseSharedEpilogueInputs`).
 * A value that carries a fused loop and will be materialised by rule 2 or 4 costs its readers nothing:
 * they recompute from its buffer.
 * Everything else is fused into its consumers. With `fuse: false` every compute primitive is its
 * own kernel (the baseline of the fusion benchmark); views stay views either way.
 */
import { contractionKinds, movementKinds, type Node } from "../ir/node.ts"
import { isLoop, kernelReads } from "./kernel-reads.ts"
import { worthTilingNode } from "./tiling-threshold.ts"

export interface ScheduleOptions {
  readonly fuse: boolean
  /** Storage bindings a kernel may use (the adapter's maxStorageBuffersPerShaderStage). */
  readonly maxStorageBuffers: number
  /** Recompute a multiply-consumed elementwise node when its fused cost is at most this. */
  readonly recomputeBudget?: number
}

/** Nodes that live in memory without a kernel computing them. */
export const isSource = (n: Node): boolean => n.op.kind === "input" || n.op.kind === "data"
const isElementwise = (n: Node): boolean => ["unary", "binary", "where", "cast"].includes(n.op.kind)
/** `consumer` reads `n` element-for-element (same flat index), so a loop computing n can fuse into it. */
const oneToOne = (consumer: Node, n: Node): boolean =>
  consumer.op.kind === "reshape" || consumer.op.kind === "detach" || (isElementwise(consumer) && consumer.shape.join() === n.shape.join())

/** The materialised set, kernel roots in execution order. */
export const schedule = (order: readonly Node[], outputs: readonly Node[], options: ScheduleOptions): Set<number> => {
  const consumers = new Map<number, Node[]>()
  for (const n of order) for (const i of new Set(n.inputs)) consumers.set(i.id, [...(consumers.get(i.id) ?? []), n])
  const users = (n: Node) => consumers.get(n.id) ?? []
  const materialised = new Set<number>(outputs.map((o) => o.id))
  for (const n of order) if (isSource(n)) materialised.add(n.id)

  if (!options.fuse) {
    for (const n of order) if (!movementKinds.has(n.op.kind) && n.op.kind !== "const") materialised.add(n.id)
    return materialised
  }

  const budget = options.recomputeBudget ?? 8
  // Cost of computing a node in place: primitive count up to the materialised boundary. Loops count
  // as free here: they end up materialised, or fused one-to-one and then guarded by the heavy pass.
  // A node that carries a fused loop's value and is read by anything but one same-shape elementwise op
  // is materialised by the heavy pass below, so it costs its readers nothing either.
  const cost = new Map<number, number>()
  const carriesLoop = new Set<number>()
  const readOneToOne = (n: Node): boolean => users(n).length === 1 && oneToOne(users(n)[0]!, n)
  for (const n of order) {
    if (materialised.has(n.id) || n.op.kind === "const") cost.set(n.id, 0)
    else if (isLoop(n) || n.inputs.some((i) => carriesLoop.has(i.id))) {
      if (readOneToOne(n)) carriesLoop.add(n.id)
      cost.set(n.id, isLoop(n) || !readOneToOne(n) ? 0 : ownCost(n) + n.inputs.reduce((c, i) => c + (cost.get(i.id) ?? 0), 0))
    } else cost.set(n.id, n.inputs.reduce((c, i) => c + (cost.get(i.id) ?? 0), ownCost(n)))
  }
  const isView = (n: Node): boolean => movementKinds.has(n.op.kind) ? n.inputs.every((i) => materialised.has(i.id) || isView(i)) : n.op.kind === "const" || materialised.has(n.id)

  const contractionOperands: Node[] = []
  for (const n of order) {
    if (materialised.has(n.id)) continue
    const us = users(n)
    if (isLoop(n)) {
      if (!(us.length === 1 && oneToOne(us[0]!, n))) materialised.add(n.id)
      continue
    }
    if (us.some((u) => contractionKinds.has(u.op.kind)) && !isView(n)) {
      materialised.add(n.id)
      contractionOperands.push(n)
    } else if (isSmallTransposedRightOperand(n, us)) materialised.add(n.id)
    // A scalar (e.g. Adam's step size from the uniforms) is recomputed far more readily: a kernel of one
    // thread plus a buffer cost more than a few ALU ops per thread, and it would split sibling groups.
    else if (us.length >= 2 && (cost.get(n.id) ?? 0) > (n.shape.length === 0 ? 8 * budget : budget)) materialised.add(n.id)
    // A concat recomputed by each reader would bind all its parts in every one of them; materialised,
    // it is usually assembled in place by its parts' own kernels (assemble.ts) and costs no copy.
    else if (us.length >= 2 && n.op.kind === "concat") materialised.add(n.id)
  }

  // A fused loop ("heavy" value) may only flow on to one same-shape elementwise consumer: anywhere
  // else it would be re-run per element of a bigger kernel.
  // And a kernel computes at most one fused contraction (so it can use its tiled template): where two
  // meet (conv + conv in a residual add), all but the first get their own kernel. Plain reductions
  // may share a kernel (a global norm sums many per-tensor reductions in one).
  const heavy = new Set<number>()
  const withContraction = new Set<number>()
  for (const n of order) {
    if (materialised.has(n.id)) continue
    const contractionInputs = [...new Set(n.inputs.filter((i) => withContraction.has(i.id)))]
    for (const extra of contractionInputs.slice(isLoop(n) ? 0 : 1)) {
      materialised.add(extra.id)
      heavy.delete(extra.id)
      withContraction.delete(extra.id)
    }
    if (isLoop(n) || n.inputs.some((i) => heavy.has(i.id))) {
      const us = users(n)
      if (us.length === 1 && oneToOne(us[0]!, n)) {
        heavy.add(n.id)
        if (contractionKinds.has(n.op.kind) || n.inputs.some((i) => withContraction.has(i.id))) withContraction.add(n.id)
      } else materialised.add(n.id)
    }
  }

  // Rule 3 was decided before the pass above gave loop-carrying values their buffers: an operand of
  // plain-loop contractions that is now a view of those (a transposed gradient) needs no copy of its
  // own. (Tiled loaders keep their copies: a view in each would make each a form of its own.)
  for (const n of contractionOperands) {
    if (users(n).some((u) => contractionKinds.has(u.op.kind) && worthTilingNode(u))) continue
    materialised.delete(n.id)
    if (!isView(n)) materialised.add(n.id)
  }

  materialiseSharedEpilogueInputs(order, materialised, withContraction, users, cost)
  limitBindings(order, materialised, options.maxStorageBuffers - 1)
  return materialised
}

/** The recompute cost above which a value read twice gets a buffer rather than join a contraction's epilogue. */
const EPILOGUE_RECOMPUTE_BUDGET = 1

/**
 * A contraction's epilogue runs once per output element in the tiled template's second phase, where
 * lavapipe runs arithmetic and scattered loads far slower than an elementwise kernel does: recomputing a
 * group norm and a sigmoid there slowed the UNet's backward convolutions (bench/README.md, "Generic tiled
 * forms"). So a value that is read twice and costs more than one op is materialised instead.
 */
const materialiseSharedEpilogueInputs = (
  order: readonly Node[],
  materialised: Set<number>,
  withContraction: ReadonlySet<number>,
  users: (n: Node) => readonly Node[],
  cost: ReadonlyMap<number, number>,
): void => {
  const carriesContraction = (n: Node) => contractionKinds.has(n.op.kind) || withContraction.has(n.id)
  for (const root of order) {
    if (!materialised.has(root.id) || isSource(root)) continue
    // The kernel's contraction: down the chain of values carrying it.
    let contraction: Node | undefined = root
    while (contraction && !contractionKinds.has(contraction.op.kind)) contraction = contraction.inputs.find(carriesContraction)
    if (!contraction || !worthTilingNode(contraction)) continue
    const stack = [root]
    const seen = new Set<number>()
    while (stack.length > 0) {
      const n = stack.pop()!
      if (n === contraction) continue // its operands are the loaders', not the epilogue's
      for (const i of n.inputs) {
        if (seen.has(i.id) || materialised.has(i.id) || i.op.kind === "const") continue
        seen.add(i.id)
        if (!carriesContraction(i) && users(i).length >= 2 && (cost.get(i.id) ?? 0) > EPILOGUE_RECOMPUTE_BUDGET) materialised.add(i.id)
        else stack.push(i)
      }
    }
  }
}

const ownCost = (n: Node): number => (movementKinds.has(n.op.kind) ? 0 : n.op.kind === "random" ? 4 : 1)

const elements = (n: Node): number => n.shape.reduce((a, b) => a * b, 1)

/** The copy must cost under 1/8 of the products it speeds up (read and written once, against m·n outputs). */
const TRANSPOSE_COPY_RATIO = 8

/** A matmul the tiled template computes. */
const isTiledMatmul = (u: Node): boolean => u.op.kind === "matmul" && worthTilingNode(u)

/** `n` swaps the last two axes and is read only as the right operand of tiled matmuls at least 8 times its size. */
const isSmallTransposedRightOperand = (n: Node, users: readonly Node[]): boolean => {
  if (n.op.kind !== "permute") return false
  const perm = n.op.perm
  const rank = perm.length
  const swapsLastTwo = rank >= 2 && perm[rank - 1] === rank - 2 && perm[rank - 2] === rank - 1 && perm.slice(0, -2).every((p, i) => p === i)
  return swapsLastTwo && users.length > 0 && users.every((u) => isTiledMatmul(u) && u.inputs[1] === n && u.inputs[0] !== n && elements(u) >= TRANSPOSE_COPY_RATIO * elements(n))
}

/** Splits kernels that would read more buffers than a shader stage may bind. */
const limitBindings = (order: readonly Node[], materialised: Set<number>, maxReads: number): void => {
  let changed = true
  while (changed) {
    changed = false
    for (const n of order) {
      if (!materialised.has(n.id) || isSource(n)) continue
      if (kernelReads(n, materialised).reads.size <= maxReads) continue
      // Materialise the fused operand that reads the most buffers; the kernel shrinks accordingly.
      const fusedInputs = n.inputs.filter((i) => !materialised.has(i.id))
      const widest = fusedInputs.map((i) => [i, kernelReads(i, materialised).reads.size + 1] as const).sort((a, b) => b[1] - a[1])[0]
      if (!widest) continue
      materialised.add(widest[0].id)
      changed = true
    }
  }
}
