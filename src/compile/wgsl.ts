/**
 * Renders a kernel to WGSL: readable (named temporaries, one statement per line, a header listing the
 * fused primitives), one thread per output element, dispatched on a 2-D grid past MAX_GROUPS workgroups.
 */
import { rngWgsl } from "./rng.ts"
import { defaultTiles, type TileShape } from "./tiled-matmul.ts"
import { laneGrid, laneTexture, renderLaneMatmul, type OperandTexture } from "./lane-matmul.ts"
import { loaderGrid, renderLoaderMatmul } from "./loader-matmul.ts"
import type { Kernel, Program } from "./program.ts"
import { renderBodies, type Syntax } from "./render.ts"
import { scalarOrder, type Scalar } from "./scalar.ts"
import { epilogueSyntax, storageType } from "./wgsl-syntax.ts"
import { randomPrelude, trigPrelude, usesRandom, usesTrig, wgslPrelude } from "./wgsl-prelude.ts"
import { param, paramOffsetIndex, paramsDeclaration } from "./wgsl-literal.ts"
import { MAX_GROUPS } from "./webgpu-limits.ts"
import { liftConstants, type FormRegistry, type LiftedKernel } from "./lift-constants.ts"

/** Name of a kernel's j-th output array: `out`, then `out1`, `out2`, … for siblings. */
export const outName = (j: number): string => (j === 0 ? "out" : `out${j}`)

export const WORKGROUP = 256

/** Workgroup counts (x, y, z) a kernel is dispatched with. */
const dispatchGrid = (kernel: Kernel, options: WgslOptions): [number, number, number] => {
  const t = kernel.tiled
  if (!t) return [...gridFor(invocations(kernel)), 1]
  const tiles = { ...defaultTiles, ...options }
  return t.gemm ? loaderGrid(t, t.gemm, tiles) : laneGrid(t, tiles)
}

/** Workgroup counts for `threads` threads, split over x and y when x alone would exceed the limit. */
export const gridFor = (threads: number): [number, number] => {
  const groups = Math.max(1, Math.ceil(threads / WORKGROUP))
  const x = Math.min(groups, MAX_GROUPS)
  return [x, Math.ceil(groups / x)]
}

/**
 * Rendering choices that depend on the adapter: register-tile rows, and workgroup-memory staging of
 * convolution operands (pays off on GPUs; on lavapipe barriers cost more than the loads they save).
 */
export type WgslOptions = Partial<TileShape>

/** The storage buffer `kernel` reads as a texture under `options` (the executable mirrors it before the dispatch). */
const kernelTexture = (program: Program, kernel: Kernel, options: WgslOptions): OperandTexture | undefined =>
  kernel.tiled && !kernel.tiled.gemm ? laneTexture(program, kernel, kernel.tiled, { ...defaultTiles, ...options }) : undefined

/** How a kernel sees each of its bindings, in binding order. */
export type BindingKind = "read" | "read_write" | "uniform" | "uniform-dynamic" | "texture"

/**
 * A kernel rendered once, as the runtime executes it: its WGSL and parameter words (`LiftedKernel`), the
 * workgroups it is dispatched on, and what backs each binding. The runtime builds the pipeline and bind
 * group from this record and dispatches `grid`; it derives nothing from the Program's kernel itself.
 */
export interface RenderedKernel extends LiftedKernel {
  readonly name: string
  /** Workgroup counts (x, y, z). */
  readonly grid: readonly [number, number, number]
  /** Every binding in order: the reads (the texture among them), the writes, the run's uniforms ("uniform-dynamic"), then the parameters ("uniform") when `params` is set. */
  readonly bindings: readonly BindingKind[]
  /** The buffer slot behind each read and write binding, by binding (a texture's slot is the buffer it mirrors). */
  readonly storage: readonly number[]
  /** The read binding that is a texture refreshed from its buffer before the dispatch (lane-matmul.ts says why). */
  readonly texture?: OperandTexture
}

/**
 * Every kernel of `program` as it is compiled and dispatched: kernels of one form share their text, with
 * the sizes that differ between them read from a parameter uniform (lift-constants.ts).
 */
export const renderProgramWgsl = (program: Program, options: WgslOptions = {}, forms?: FormRegistry): RenderedKernel[] =>
  liftConstants(program.kernels.map((k) => renderMarkedWgsl(program, k, options)), forms).map((lifted, i) => {
    const kernel = program.kernels[i]!
    const texture = kernelTexture(program, kernel, options)
    const writes = [kernel.write, ...kernel.siblings.map((o) => o.write)]
    const bindings: BindingKind[] = [
      ...kernel.reads.map((_, b): BindingKind => (b === texture?.binding ? "texture" : "read")),
      ...writes.map((): BindingKind => "read_write"),
      "uniform-dynamic",
      ...(lifted.params ? ["uniform" as const] : []),
    ]
    return { ...lifted, name: kernel.name, grid: dispatchGrid(kernel, options), bindings, storage: [...kernel.reads, ...writes], ...(texture ? { texture } : {}) }
  })

/** One kernel's WGSL on its own (every value a literal), for reading and for tests. */
export const renderWgsl = (program: Program, kernel: Kernel, options: WgslOptions = {}): string =>
  liftConstants([renderMarkedWgsl(program, kernel, options)])[0]!.wgsl

/** A kernel's WGSL with its liftable values marked (see wgsl-literal.ts). */
const renderMarkedWgsl = (program: Program, kernel: Kernel, options: WgslOptions = {}): string => {
  const t = kernel.tiled
  if (t) {
    const tiles = { ...defaultTiles, ...options }
    return t.gemm ? renderLoaderMatmul(program, kernel, t, t.gemm, tiles) : renderLaneMatmul(program, kernel, t, tiles)
  }
  const outputs = [{ value: kernel.value, outputType: kernel.outputType, writeOffset: kernel.writeOffset }, ...kernel.siblings]
  const values = outputs.map((o) => o.value)
  const blocked = elementsPerInvocation(kernel) > 1
  const block = blocked ? blockPlan(kernel, values, outputs) : undefined
  const { lines, results } = renderBodies(values, block ? blockSyntax(block) : epilogueSyntax, block ? "    " : "  ")
  const [groupsX] = gridFor(invocations(kernel))
  const uniformVecs = Math.max(1, Math.ceil(program.uniforms.length / 4))
  const element = (type: string, vector: boolean) => (vector ? `vec4<${type}>` : type)
  const bindings = kernel.reads.map(
    (slot, i) => `@group(0) @binding(${i}) var<storage, read> in${i}: array<${element(storageType(program.slots[slot]!.dtype), block?.vectorReads.has(i) ?? false)}>;`,
  )
  const stored = (j: number) => (outputs[j]!.outputType === "bool" ? `select(0u, 1u, ${results[j]})` : results[j]!)
  const invocation = param(groupsX * WORKGROUP, "u32")
  const threads = param(kernel.threads)
  const body = block
    ? [
        `  let block = i32(id.x + id.y * ${invocation});`,
        `  if (block * ${BLOCK} >= ${threads}) { return; }`,
        ...[...block.vectorReads].map((b) => `  let load${b} = in${b}[block];`),
        // Each draw's two Threefry blocks serve the invocation's four elements (rng.ts's `draws`).
        ...block.draws.map((d, i) => `  let draw${i} = rng_${d.dist}4(random_bits4(u[0][0], ${param(d.salt, "u32")}, u[0][1], u32(block)));`),
        ...block.vectorWrites.map((j) => `  var result${j}: vec4<${storageType(outputs[j]!.outputType)}>;`),
        `  for (var lane = 0; lane < ${BLOCK}; lane++) {`,
        `    let gid = block * ${BLOCK} + lane;`,
        // Whole blocks need no bound check per element; the check costs a compare and a branch in every lane.
        ...(kernel.threads % BLOCK === 0 ? [] : [`    if (gid >= ${threads}) { break; }`]),
        ...lines,
        ...outputs.map((o, j) =>
          block.vectorWrites.includes(j) ? `    result${j}[lane] = ${stored(j)};` : `    ${outName(j)}[${paramOffsetIndex("gid", o.writeOffset)}] = ${stored(j)};`,
        ),
        `  }`,
        ...block.vectorWrites.map((j) => `  ${outName(j)}[${paramOffsetIndex("block", outputs[j]!.writeOffset / BLOCK)}] = result${j};`),
      ]
    : [
        `  let gid = i32(id.x + id.y * ${invocation});`,
        `  if (gid >= ${threads}) { return; }`,
        ...lines,
        ...outputs.map((o, j) => `  ${outName(j)}[${paramOffsetIndex("gid", o.writeOffset)}] = ${stored(j)};`),
      ]
  return [
    // No kernel index or size in the text: kernels of one form share a pipeline.
    `// sdeflow kernel: fused [${kernel.ops.join(", ")}]${block ? `, ${BLOCK} elements per invocation` : ""}`,
    ...bindings,
    ...outputs.map(
      (o, j) => `@group(0) @binding(${kernel.reads.length + j}) var<storage, read_write> ${outName(j)}: array<${element(storageType(o.outputType), block?.vectorWrites.includes(j) ?? false)}>;`,
    ),
    `@group(0) @binding(${kernel.reads.length + outputs.length}) var<uniform> u: array<vec4<u32>, ${uniformVecs}>;`,
    paramsDeclaration(kernel.reads.length + outputs.length + 1),
    wgslPrelude,
    ...(values.some(usesTrig) ? [trigPrelude] : []),
    ...(values.some(usesRandom) ? [rngWgsl, randomPrelude] : []),
    `@compute @workgroup_size(${WORKGROUP})`,
    `fn main(@builtin(global_invocation_id) id: vec3<u32>) {`,
    ...body,
    `}`,
    ``,
  ].join("\n")
}

/** Elements one invocation computes: a block of adjacent ones in kernels without reduction loops, else one. */
const BLOCK = 4

const hasReduction = (values: readonly Scalar[]): boolean => scalarOrder(values).some((s) => s.op.k === "reduce")

const elementsPerInvocation = (kernel: Kernel): number =>
  hasReduction([kernel.value, ...kernel.siblings.map((o) => o.value)]) ? 1 : BLOCK

/** Invocations a plain (untiled) kernel is dispatched with. */
const invocations = (kernel: Kernel): number => Math.ceil(kernel.threads / elementsPerInvocation(kernel))

/** A random draw at the kernel's own element index, computed once per block of elements. */
interface BlockDraw {
  readonly dist: string
  readonly salt: number
}

/**
 * How a block of elements is read, drawn and written: vec4 loads of inputs read only at the element's own
 * index, one pair of Threefry blocks per draw at that index, and vec4 stores of outputs. Vectors need whole blocks
 * (the thread count a multiple of 4, a write offset too), so that no vec4 reaches past a buffer's data;
 * other kernels keep scalar loads and stores around the same loop.
 */
interface BlockPlan {
  readonly draws: readonly BlockDraw[]
  readonly vectorReads: ReadonlySet<number>
  readonly vectorWrites: readonly number[]
}

const atOwnIndex = (s: Scalar): boolean => s.args[0]!.op.k === "gid"

const isBlockDraw = (s: Scalar): boolean => s.op.k === "random" && !s.op.substeps && atOwnIndex(s)

const blockPlan = (kernel: Kernel, values: readonly Scalar[], outputs: readonly { writeOffset: number }[]): BlockPlan => {
  const order = scalarOrder(values)
  const draws: BlockDraw[] = []
  for (const s of order) {
    if (s.op.k !== "random" || !isBlockDraw(s)) continue
    const { dist, salt } = s.op
    if (!draws.some((d) => d.dist === dist && d.salt === salt)) draws.push({ dist, salt })
  }
  const whole = kernel.threads % BLOCK === 0
  const loads = order.filter((s) => s.op.k === "load")
  const bindingOf = (s: Scalar) => (s.op as { binding: number }).binding
  const vectorReads = new Set(whole ? loads.filter(atOwnIndex).map(bindingOf) : [])
  for (const s of loads) if (!atOwnIndex(s)) vectorReads.delete(bindingOf(s))
  const vectorWrites = whole ? outputs.flatMap((o, j) => (o.writeOffset % BLOCK === 0 ? [j] : [])) : []
  return { draws, vectorReads, vectorWrites }
}

/** The kernel syntax inside a block: draws and vector reads at the element's own index come from the block's vectors. */
const blockSyntax = (plan: BlockPlan): Syntax => ({
  ...epilogueSyntax,
  expr: (s, args) => {
    if (s.op.k === "load" && plan.vectorReads.has(s.op.binding)) return s.type === "bool" ? `(load${s.op.binding}[lane] != 0u)` : `load${s.op.binding}[lane]`
    if (s.op.k !== "random" || !isBlockDraw(s)) return epilogueSyntax.expr(s, args)
    const { dist, salt } = s.op
    return `draw${plan.draws.findIndex((d) => d.dist === dist && d.salt === salt)}[lane]`
  },
})
