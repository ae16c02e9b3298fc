/**
 * The user-facing verb: `compile(fn, inputs, options)` traces `fn` once over lazy tensors and returns
 * an Executable to run many times with new inputs, on WebGPU or on the CPU oracle.
 */
import type { DType, Node } from "../ir/node.ts"
import { input, resetSalts, Tensor } from "../ir/tensor.ts"
import { checkKeys, invalid, programError } from "../ir/errors.ts"
import { buildProgram, type Program } from "./program.ts"
import type { Precision } from "./js.ts"
import type { GpuHandle } from "../runtime/gpu.ts"
import type { Executable } from "../runtime/executable.ts"
import type { CompileProgress } from "../runtime/pipelines.ts"
import { cpuExecutable } from "../runtime/cpu-executable.ts"
import { webgpuExecutable } from "../runtime/webgpu-executable.ts"
import { tunedTiles } from "../runtime/autotune.ts"
import { defaultTiles } from "./tiled-matmul.ts"

/** An input's shape (`[]` for a scalar uniform such as t or dt), optionally with a dtype. */
export type InputSpec = readonly number[] | { readonly shape: readonly number[]; readonly dtype: DType }
export type Outputs = Tensor | Readonly<Record<string, Tensor>>

export interface CompileOptions {
  /** Where to run: a WebGPU device, or "cpu" for the JS oracle. */
  readonly backend: GpuHandle | "cpu"
  /** false → one kernel per primitive (the unfused baseline). Default true. */
  readonly fuse?: boolean
  /** CPU oracle arithmetic (default f64). */
  readonly precision?: Precision
  /** "always": the tiled matmul template even for thin or small products (default "auto", see tilingThreshold). */
  readonly tiling?: "auto" | "always"
  /** Force (or forbid) workgroup-memory staging in convolution kernels; default: by adapter. */
  readonly workgroupMemory?: boolean
  /** Called as the program's pipelines compile (WebGPU only): done/total, how many were reused. */
  readonly onCompile?: (progress: CompileProgress) => void
}

const compileOptionKeys: Record<keyof CompileOptions, true> = { backend: true, fuse: true, precision: true, tiling: true, workgroupMemory: true, onCompile: true }

/** Calls `fn` on fresh input tensors and returns its output graph (named "out" for a single tensor). */
export const trace = <I extends Record<string, InputSpec>>(
  fn: (inputs: { [K in keyof I]: Tensor }) => Outputs,
  specs: I,
): Record<string, Node> => {
  resetSalts()
  const inputs = Object.fromEntries(
    Object.entries(specs).map(([name, spec]) => {
      const { shape, dtype } = Array.isArray(spec) ? { shape: spec as readonly number[], dtype: "f32" as DType } : (spec as { shape: number[]; dtype: DType })
      return [name, input(name, shape, dtype)]
    }),
  ) as { [K in keyof I]: Tensor }
  const result = fn(inputs)
  if (result instanceof Tensor) return { out: result.node }
  const entries = Object.entries(result)
  if (entries.length === 0) throw programError("compile", "the function returned no outputs")
  return Object.fromEntries(
    entries.map(([name, t]) => {
      if (!(t instanceof Tensor)) throw programError("compile", `output "${name}" is not a Tensor`)
      return [name, t.node]
    }),
  )
}

/** Builds the backend-neutral Program of `fn` (for `explain` and tests). */
export const programOf = <I extends Record<string, InputSpec>>(
  fn: (inputs: { [K in keyof I]: Tensor }) => Outputs,
  specs: I,
  options: { fuse?: boolean; maxStorageBuffers?: number; tiling?: "auto" | "always" } = {},
): Program => buildProgram(trace(fn, specs), { ...options, declaredInputs: Object.keys(specs) })

export const compile = async <I extends Record<string, InputSpec>>(
  fn: (inputs: { [K in keyof I]: Tensor }) => Outputs,
  specs: I,
  options: CompileOptions,
): Promise<Executable> => {
  checkKeys<CompileOptions>("compile", options, compileOptionKeys)
  const gpu = options.backend === "cpu" ? undefined : options.backend
  if (gpu !== undefined && !(typeof gpu === "object" && gpu !== null && "device" in gpu && "limits" in gpu))
    throw invalid("backend", options.backend, 'give "cpu" (the oracle) or a GPU handle from withGpu or the Gpu layer')
  const program = programOf(fn, specs, {
    fuse: options.fuse,
    tiling: options.tiling,
    maxStorageBuffers: gpu ? gpu.limits.maxStorageBuffersPerShaderStage : 10,
  })
  if (!gpu) return cpuExecutable(program, options.precision)
  // Tile shapes are measured once per device, and only when a program has a contraction to tile.
  const tiles = program.kernels.some((k) => k.tiled) ? await tunedTiles(gpu) : defaultTiles
  return webgpuExecutable(gpu, program, options.workgroupMemory === undefined ? tiles : { ...tiles, workgroupMemory: options.workgroupMemory }, options.onCompile)
}
