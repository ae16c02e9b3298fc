/**
 * Compute pipelines keyed by WGSL text. Layouts are explicit (never `layout: "auto"`, which drops
 * unused bindings and makes bind groups silently invalid), built from each kernel's binding kinds.
 */
import { ShaderCompile, Validation } from "./errors.ts"
import { scoped } from "./scopes.ts"
import { ShaderStage } from "./flags.ts"

/** How a kernel sees each of its bindings, in binding order. */
export type BindingKind = "read" | "read_write" | "uniform" | "uniform-dynamic" | "texture"

export interface CachedPipeline {
  readonly pipeline: GPUComputePipeline
  readonly layout: GPUBindGroupLayout
}

const bufferType: Record<Exclude<BindingKind, "texture">, GPUBufferBindingType> = {
  read: "read-only-storage",
  read_write: "storage",
  uniform: "uniform",
  "uniform-dynamic": "uniform",
}

/** Prefixes each WGSL line with its number, so Dawn's `:line:col` can be found by eye. */
export const numberLines = (code: string): string =>
  code.split("\n").map((line, i) => `${String(i + 1).padStart(4)} | ${line}`).join("\n")

export class PipelineCache {
  private readonly cache = new Map<string, Promise<CachedPipeline>>()
  /** How many pipelines were actually created (a replayed executable must not add to this). */
  created = 0

  constructor(private readonly device: GPUDevice) {}

  get size(): number {
    return this.cache.size
  }

  /** The pipeline for `wgsl` (entry point `main`), compiling it on first use. */
  get(wgsl: string, bindings: readonly BindingKind[], label = "kernel"): Promise<CachedPipeline> {
    const key = `${bindings.join(",")}\n${wgsl}`
    let entry = this.cache.get(key)
    if (!entry) {
      entry = this.create(wgsl, bindings, label)
      // A failed compile is not cached: the caller may fix the device state and retry.
      entry.catch(() => this.cache.delete(key))
      this.cache.set(key, entry)
    }
    return entry
  }

  private async create(wgsl: string, bindings: readonly BindingKind[], label: string): Promise<CachedPipeline> {
    const device = this.device
    const module = await scoped(device, `compile ${label}`, () => device.createShaderModule({ code: wgsl, label })).catch(
      (e: unknown) => {
        const message = e instanceof Validation ? e.message : String(e)
        throw new ShaderCompile({ label, wgsl: numberLines(wgsl), message })
      },
    )
    return scoped(device, `pipeline ${label}`, () => {
      const layout = device.createBindGroupLayout({
        label,
        entries: bindings.map((kind, binding) =>
          kind === "texture"
            ? { binding, visibility: ShaderStage.COMPUTE, texture: { sampleType: "unfilterable-float" } }
            : {
                binding,
                visibility: ShaderStage.COMPUTE,
                // A dynamic uniform takes its offset at setBindGroup: a chain of runs gives each step its own slot.
                buffer: { type: bufferType[kind], hasDynamicOffset: kind === "uniform-dynamic" },
              },
        ),
      })
      const pipeline = device.createComputePipeline({
        label,
        layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: "main" },
      })
      this.created++
      return { pipeline, layout }
    })
  }
}
