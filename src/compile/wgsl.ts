/**
 * Renders a kernel to WGSL: readable (named temporaries, one statement per line, a header listing the
 * fused primitives), one thread per output element, dispatched on a 2-D grid past MAX_GROUPS workgroups.
 */
import { philoxWgsl } from "./philox.ts"
import { defaultTiles, type TileShape } from "./tiled-matmul.ts"
import { laneGrid, laneTexture, renderLaneMatmul, type OperandTexture } from "./lane-matmul.ts"
import { loaderGrid, renderLoaderMatmul } from "./loader-matmul.ts"
import type { Kernel, Program } from "./program.ts"
import { renderBodies } from "./render.ts"
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
  if (!t) return [...gridFor(kernel.threads), 1]
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
  const { lines, results } = renderBodies(outputs.map((o) => o.value), epilogueSyntax)
  const [groupsX] = gridFor(kernel.threads)
  const uniformVecs = Math.max(1, Math.ceil(program.uniforms.length / 4))
  const bindings = kernel.reads.map(
    (slot, i) => `@group(0) @binding(${i}) var<storage, read> in${i}: array<${storageType(program.slots[slot]!.dtype)}>;`,
  )
  return [
    // No kernel index or size in the text: kernels of one form share a pipeline.
    `// sdeflow kernel: fused [${kernel.ops.join(", ")}]`,
    ...bindings,
    ...outputs.map((o, j) => `@group(0) @binding(${kernel.reads.length + j}) var<storage, read_write> ${outName(j)}: array<${storageType(o.outputType)}>;`),
    `@group(0) @binding(${kernel.reads.length + outputs.length}) var<uniform> u: array<vec4<u32>, ${uniformVecs}>;`,
    paramsDeclaration(kernel.reads.length + outputs.length + 1),
    wgslPrelude,
    ...(outputs.some((o) => usesTrig(o.value)) ? [trigPrelude] : []),
    ...(outputs.some((o) => usesRandom(o.value)) ? [philoxWgsl, randomPrelude] : []),
    `@compute @workgroup_size(${WORKGROUP})`,
    `fn main(@builtin(global_invocation_id) id: vec3<u32>) {`,
    `  let gid = i32(id.x + id.y * ${param(groupsX * WORKGROUP, "u32")});`,
    `  if (gid >= ${param(kernel.threads)}) { return; }`,
    ...lines,
    ...outputs.map((o, j) => `  ${outName(j)}[${paramOffsetIndex("gid", o.writeOffset)}] = ${o.outputType === "bool" ? `select(0u, 1u, ${results[j]})` : results[j]};`),
    `}`,
    ``,
  ].join("\n")
}
