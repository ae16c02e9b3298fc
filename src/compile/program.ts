/**
 * `buildProgram`: graph → simplified graph → fusion schedule → one scalar DAG per kernel → memory plan.
 * A Program is backend-neutral data; `wgsl.ts` and `js.ts` render its kernels, the runtime replays it.
 */
import { makeNode, opName, topoSort, type DType, type Node } from "../ir/node.ts"
import { programError } from "../ir/errors.ts"
import { sizeOf, type Shape } from "../ir/shape.ts"
import { lowerKernel, type Contraction, type GemmView, type Source } from "./lower.ts"
import { ScalarBuilder, scalarOrder, type Scalar } from "./scalar.ts"
import { isSource, schedule } from "./schedule.ts"
import { simplify } from "./simplify.ts"
import { planMemory, type Slot } from "./memory.ts"
import { groupSiblings } from "./siblings.ts"
import { assembleConcats } from "./assemble.ts"
import { stridedView, type StridedView } from "./strided.ts"
import { worthTilingNode } from "./tiling-threshold.ts"

export { tilingThreshold } from "./tiling-threshold.ts"

export interface ProgramInput {
  readonly name: string
  readonly shape: Shape
  readonly dtype: DType
  /** Tensors live in a buffer slot; shape-[] inputs travel as uniforms. */
  readonly place: { readonly kind: "buffer"; readonly slot: number } | { readonly kind: "uniform"; readonly slot: number }
}

export interface ProgramOutput {
  readonly name: string
  readonly shape: Shape
  readonly dtype: DType
  readonly slot: number
}

export interface Kernel {
  readonly name: string
  /** The primitives fused into this kernel, in graph order (for `explain` and the WGSL header). */
  readonly ops: readonly string[]
  readonly value: Scalar
  readonly threads: number
  readonly outputType: DType
  /** Buffer slot of each storage binding read, in binding order. */
  readonly reads: readonly number[]
  readonly write: number
  /** Element offset of the thread's result in the written slot (non-zero for a part of an assembled concat). */
  readonly writeOffset: number
  /** Further outputs of a sibling group, computed alongside (bindings after `out`, in order). */
  readonly siblings: readonly { readonly value: Scalar; readonly write: number; readonly writeOffset: number; readonly outputType: DType }[]
  readonly bytesRead: number
  readonly bytesWritten: number
  readonly flops: number
  /** Set when the kernel is one matmul + epilogue rendered by the register-tiled template. */
  readonly tiled?: TiledMatmul
}

/** What the tiled template (tiled-matmul.ts) needs to know about a kernel's matmul; `tiledPlan` makes it. */
export interface TiledMatmul {
  readonly batchShape: readonly number[]
  readonly m: number
  readonly n: number
  readonly k: number
  /** Strided views (binding + offset + strides over [...batch, rows, cols]) of A [.., M, K] and B [.., K, N]. */
  readonly a?: { readonly binding: number; readonly view: StridedView }
  readonly b?: { readonly binding: number; readonly view: StridedView }
  /** Or element loaders (convolutions as implicit GEMMs). */
  readonly gemm?: GemmView
  /** The kernel value with the matmul replaced by the external `acc`: the epilogue. */
  readonly epilogue: Scalar
}

export interface Program {
  readonly inputs: readonly ProgramInput[]
  readonly outputs: readonly ProgramOutput[]
  readonly slots: readonly Slot[]
  /** Buffers filled once when an executable is built (lookup tables baked into the program). */
  readonly constants: readonly { readonly slot: number; readonly values: Float32Array }[]
  /** Uniform slots: 0 = seed (u32), 1 = step (u32), then the scalar inputs. */
  readonly uniforms: readonly { readonly name: string; readonly dtype: DType }[]
  readonly kernels: readonly Kernel[]
  /** Declared inputs no output depends on (accepted and ignored by `run`). */
  readonly unusedInputs: readonly string[]
}

export interface BuildOptions {
  readonly fuse?: boolean
  /** "auto" (default): the tiled template only where `tilingThreshold` says it pays; "always": every matmul that can. */
  readonly tiling?: "auto" | "always"
  readonly maxStorageBuffers?: number
  /** Inputs the traced function declared: accepted by `run` even when the outputs do not use them. */
  readonly declaredInputs?: readonly string[]
}

export const bytesPerElement = 4

/** Compiles output graph nodes (by name) into a Program. */
export const buildProgram = (outputs: Record<string, Node>, options: BuildOptions = {}): Program => {
  const names = Object.keys(outputs)
  // A scalar input returned as an output lives in a uniform, not a buffer: give it a copy kernel.
  const roots = simplify(names.map((n) => outputs[n]!)).map((r) => (isSource(r) && r.shape.length === 0 ? makeNode({ kind: "detach" }, [r], [], r.dtype) : r))
  const order = topoSort(roots)
  const inputNodes = order.filter((n) => n.op.kind === "input")
  const dataNodes = order.filter((n) => n.op.kind === "data")
  const seenNames = new Map<string, Node>()
  for (const n of inputNodes) {
    const name = (n.op as { name: string }).name
    const other = seenNames.get(name)
    if (other && other !== n) throw programError("compile", `two different inputs are both named "${name}"`)
    seenNames.set(name, n)
  }
  const fuse = options.fuse ?? true
  const materialised = schedule(order, roots, { fuse, maxStorageBuffers: options.maxStorageBuffers ?? 10 })
  // The unfused baseline keeps every concat a kernel of its own.
  const { placements, assembled, clones } = fuse
    ? assembleConcats(order, materialised, new Set(roots.map((r) => r.id)))
    : { placements: new Map(), assembled: new Set<number>(), clones: new Map<number, readonly Node[]>() }
  const kernelRoots = order.flatMap((n) => [n, ...(clones.get(n.id) ?? [])]).filter((n) => materialised.has(n.id) && !isSource(n) && !assembled.has(n.id))
  const maxStorage = options.maxStorageBuffers ?? 10
  const groups = !fuse ? kernelRoots.map((r) => [r]) : groupSiblings(kernelRoots, materialised, maxStorage)
  const plan = planMemory(groups, [...inputNodes.filter((n) => n.shape.length > 0), ...dataNodes], roots, materialised, placements)

  const uniforms: { name: string; dtype: DType }[] = [{ name: "seed", dtype: "u32" }, { name: "step", dtype: "u32" }]
  const uniformOf = new Map<number, number>()
  for (const n of inputNodes)
    if (n.shape.length === 0) {
      uniformOf.set(n.id, uniforms.length)
      uniforms.push({ name: (n.op as { name: string }).name, dtype: n.dtype })
    }

  const builder = new ScalarBuilder()
  const kernels = groups.map((members, k): Kernel => {
    const root = members[0]!
    const memberIds = new Set(members.map((m) => m.id))
    const reads: number[] = []
    const readNodes: Node[] = []
    const sourceOf = (n: Node): Source | undefined => {
      if (uniformOf.has(n.id)) return { kind: "uniform", slot: uniformOf.get(n.id)! }
      if (!materialised.has(n.id) || memberIds.has(n.id)) return undefined
      let binding = readNodes.indexOf(n)
      if (binding < 0) {
        binding = readNodes.push(n) - 1
        reads.push(plan.slotOf.get(n.id)!)
      }
      return { kind: "binding", binding }
    }
    const isRead = (n: Node) => uniformOf.has(n.id) || (materialised.has(n.id) && !memberIds.has(n.id))
    const { values, fused, contractions } = lowerKernel(builder, members, sourceOf, isRead)
    const value = values[0]!
    const tiled = contractions.length === 1 && members.length === 1 ? tiledPlan(builder, value, contractions[0]!, (n) => materialised.has(n.id) && !uniformOf.has(n.id), sourceOf, options.tiling ?? "auto") : undefined
    const ops = fused.filter((n) => !["const", "reshape", "expand", "detach"].includes(n.op.kind)).sort((a, b) => a.id - b.id).map((n) => opName(n.op))
    const threads = sizeOf(root.shape)
    return {
      name: `k${k}_${root.op.kind === "binary" || root.op.kind === "unary" ? opName(root.op) : root.op.kind}`,
      ops,
      value,
      threads,
      outputType: root.dtype,
      reads,
      write: plan.slotOf.get(root.id)!,
      writeOffset: plan.offsetOf.get(root.id) ?? 0,
      siblings: members.slice(1).map((m, i) => ({ value: values[i + 1]!, write: plan.slotOf.get(m.id)!, writeOffset: plan.offsetOf.get(m.id) ?? 0, outputType: m.dtype })),
      bytesRead: readNodes.reduce((s, n) => s + sizeOf(n.shape) * bytesPerElement, 0),
      bytesWritten: threads * bytesPerElement * members.length,
      flops: threads * values.reduce((f, v) => f + flopsPerThread(v), 0),
      ...(tiled ? { tiled } : {}),
    }
  })

  return {
    inputs: inputNodes.map((n) => ({
      name: (n.op as { name: string }).name,
      shape: n.shape,
      dtype: n.dtype,
      place: n.shape.length === 0 ? { kind: "uniform", slot: uniformOf.get(n.id)! } : { kind: "buffer", slot: plan.slotOf.get(n.id)! },
    })),
    outputs: names.map((name, i) => ({ name, shape: roots[i]!.shape, dtype: roots[i]!.dtype, slot: plan.outputSlot.get(i)! })),
    slots: plan.slots,
    constants: dataNodes.map((n) => ({ slot: plan.slotOf.get(n.id)!, values: (n.op as { values: Float32Array }).values })),
    uniforms,
    kernels,
    unusedInputs: (options.declaredInputs ?? []).filter((name) => !seenNames.has(name)),
  }
}


/**
 * The tiled-template plan for a kernel whose one contraction is at top level: a matmul with strided
 * operands, or a convolution through its implicit-GEMM loaders.
 */
const tiledPlan = (
  builder: ScalarBuilder,
  value: Scalar,
  matmul: Contraction,
  isMaterialised: (n: Node) => boolean,
  sourceOf: (n: Node) => Source | undefined,
  tiling: "auto" | "always",
): TiledMatmul | undefined => {
  if (matmul.value.loops.size > 0) return undefined
  if (tiling === "auto" && !worthTilingNode(matmul.node)) return undefined
  const epilogue = builder.substitute(value, matmul.value, builder.external("acc", "f32"))
  if (matmul.gemm) return { batchShape: [], m: matmul.gemm.m, n: matmul.gemm.n, k: matmul.gemm.k, gemm: matmul.gemm, epilogue }
  const [x, y] = matmul.node.inputs as [Node, Node]
  const [a, b] = [stridedView(x, isMaterialised), stridedView(y, isMaterialised)]
  if (!a || !b) return undefined
  const [sa, sb] = [sourceOf(a.source), sourceOf(b.source)]
  if (sa?.kind !== "binding" || sb?.kind !== "binding") return undefined
  const shape = matmul.node.shape
  return {
    batchShape: shape.slice(0, -2),
    m: shape.at(-2)!,
    n: shape.at(-1)!,
    k: x.shape.at(-1)!,
    a: { binding: sa.binding, view: a },
    b: { binding: sb.binding, view: b },
    epilogue,
  }
}

/**
 * Floating-point operations per thread: each distinct scalar node once (as the renderers emit it),
 * multiplied by the trip counts of the loops it sits in.
 */
const flopsPerThread = (value: Scalar): number => {
  const extents = new Map<number, number>()
  const order = scalarOrder([value])
  for (const s of order) if (s.op.k === "reduce") extents.set(s.op.loop, s.op.extent)
  let total = 0
  for (const s of order) {
    const arithmetic = (s.op.k === "unary" || s.op.k === "binary" || s.op.k === "reduce") && s.type === "f32"
    if (arithmetic) total += [...s.loops].reduce((n, loop) => n * (extents.get(loop) ?? 1), s.op.k === "reduce" ? s.op.extent : 1)
  }
  return total
}
