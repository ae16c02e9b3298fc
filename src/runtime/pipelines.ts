/**
 * Compute pipelines keyed by WGSL text. Layouts are explicit (never `layout: "auto"`, which drops
 * unused bindings and makes bind groups silently invalid), built from each kernel's binding kinds.
 */
import { ShaderCompile, Validation } from "./errors.ts"
import { scoped } from "./scopes.ts"
import { FormRegistry } from "../compile/lift-constants.ts"
import { PARAMS_UNIFORM } from "../compile/wgsl-literal.ts"
import type { BindingKind } from "../compile/wgsl.ts"
import { ShaderStage, TextureUsage, Usage } from "./flags.ts"
import { debugging } from "./debug.ts"

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

/** Progress of compiling a program's pipelines (the `Compiling` event of training runs). */
export interface CompileProgress {
  /** Pipelines ready so far, of `total` distinct ones the program needs. */
  readonly done: number
  readonly total: number
  /** Of `done`, how many this device had already built (another program used the same form). */
  readonly reused: number
  /** Milliseconds since the program started compiling. */
  readonly elapsedMs: number
}

export interface PipelineRequest {
  readonly wgsl: string
  readonly bindings: readonly BindingKind[]
  readonly label: string
}

/**
 * Compiles pipelines in other processes into a driver cache this process shares (Mesa's disk cache on
 * lavapipe, which compiles on one thread per process): while this process compiles its share, the
 * others compile theirs, and this process then finds them in the cache.
 */
export interface PipelineWarmer {
  /** How many shards it takes besides this process's own. */
  readonly workers: number
  /** Compiles each shard in a process of its own; `onDone` is called as each pipeline finishes. Never rejects. */
  readonly warm: (shards: readonly (readonly PipelineRequest[])[], onDone: () => void) => Promise<void>
}

/** A rough compile cost: tiled kernels (many fma/dot per k step) take LLVM far longer than elementwise ones. */
const compileCost = (r: PipelineRequest): number => 1 + (r.wgsl.match(/\b(fma|dot|subgroupBroadcast)\(/g)?.length ?? 0)

/** Splits `requests` into `n` shards of about equal cost (longest first, each to the lightest shard). */
export const shardByCost = (requests: readonly PipelineRequest[], n: number): PipelineRequest[][] => {
  const shards = Array.from({ length: n }, () => ({ cost: 0, requests: [] as PipelineRequest[] }))
  for (const r of [...requests].sort((a, b) => compileCost(b) - compileCost(a))) {
    const lightest = shards.reduce((a, b) => (b.cost < a.cost ? b : a))
    lightest.requests.push(r)
    lightest.cost += compileCost(r)
  }
  return shards.map((s) => s.requests)
}

/** Fewer new pipelines than this are compiled here alone: starting a process costs about a second. */
const MIN_TO_SHARE = 6

/**
 * Stand-in resources for a kernel's first dispatch: tiny buffers (Dawn clamps every index into them),
 * a 1×1 texture, and zero parameters, which make a form's size-driven loops run no iterations.
 */
const compileDispatch = (device: GPUDevice, layout: GPUBindGroupLayout, pipeline: GPUComputePipeline, request: PipelineRequest): { destroy(): void }[] => {
  const paramBytes = uniformArrayBytes(request.wgsl, PARAMS_UNIFORM, "i32")
  const uniformBytes = Math.max(16, uniformArrayBytes(request.wgsl, "u", "u32"))
  const made: { destroy(): void }[] = []
  const buffer = (size: number, usage: number) => {
    const b = device.createBuffer({ size, usage })
    made.push(b)
    return b
  }
  const entries = request.bindings.map((kind, binding): GPUBindGroupEntry => {
    if (kind === "texture") {
      const texture = device.createTexture({ size: [1, 1], format: "rgba32float", usage: TextureUsage.TEXTURE_BINDING })
      made.push(texture)
      return { binding, resource: texture.createView() }
    }
    if (kind === "read" || kind === "read_write") return { binding, resource: { buffer: buffer(256, Usage.STORAGE) } }
    const size = kind === "uniform" ? paramBytes : uniformBytes
    return { binding, resource: { buffer: buffer(size, Usage.UNIFORM), size } }
  })
  const encoder = device.createCommandEncoder()
  const pass = encoder.beginComputePass()
  pass.setPipeline(pipeline)
  const dynamic = request.bindings.filter((k) => k === "uniform-dynamic").map(() => 0)
  pass.setBindGroup(0, device.createBindGroup({ layout, entries }), dynamic)
  pass.dispatchWorkgroups(1)
  pass.end()
  device.queue.submit([encoder.finish()])
  return made
}

/** The byte size of a uniform array a kernel declares (`name: array<vec4<type>, N>`), 0 if none. */
const uniformArrayBytes = (wgsl: string, name: string, type: string): number =>
  Number(new RegExp(`var<uniform> ${name}: array<vec4<${type}>, (\\d+)>`).exec(wgsl)?.[1] ?? 0) * 16

const keyOf = (r: PipelineRequest): string => `${r.bindings.join(",")}\n${r.wgsl}`

export class PipelineCache {
  private readonly cache = new Map<string, Promise<CachedPipeline>>()
  /** How many pipelines were actually created (a replayed executable must not add to this). */
  created = 0
  /** The variants of each kernel form compiled on this device (lift-constants.ts). */
  readonly forms = new FormRegistry()

  constructor(
    private readonly device: GPUDevice,
    private readonly warmer?: PipelineWarmer,
  ) {}

  get size(): number {
    return this.cache.size
  }

  /**
   * The pipelines of a whole program, in order. Drivers that compile lazily (lavapipe runs LLVM at a
   * pipeline's first dispatch) are made to compile here, one pipeline at a time, by a dispatch on
   * stand-in resources, so `onProgress` reports the real compile and the program's first run is fast.
   */
  async getAll(requests: readonly PipelineRequest[], onProgress?: (p: CompileProgress) => void): Promise<CachedPipeline[]> {
    const start = performance.now()
    const distinct = new Map<string, PipelineRequest>()
    for (const r of requests) if (!distinct.has(keyOf(r))) distinct.set(keyOf(r), r)
    const fresh = [...distinct.values()].filter((r) => !this.cache.has(keyOf(r)))
    const reused = distinct.size - fresh.length
    let done = reused
    let reported = -1
    const report = () => {
      if (done === reported) return
      reported = done
      onProgress?.({ done, total: distinct.size, reused, elapsedMs: performance.now() - start })
    }
    report()
    const workers = this.warmer && fresh.length >= MIN_TO_SHARE ? this.warmer.workers : 0
    const [own = [], ...shared] = shardByCost(fresh, workers + 1)
    const elsewhere = workers > 0 ? this.warmer!.warm(shared, () => (done++, report())) : Promise.resolve()
    for (const request of own) {
      await this.compile(request)
      done++
      report()
    }
    await elsewhere
    // What the other processes compiled is in the driver's cache now: these are cache reads.
    for (const request of shared.flat()) await this.compile(request)
    done = distinct.size
    report()
    return Promise.all(requests.map((r) => this.get(r.wgsl, r.bindings, r.label)))
  }

  /** Creates `request`'s pipeline and makes the driver compile it (a first dispatch on stand-in resources). */
  private async compile(request: PipelineRequest): Promise<void> {
    const began = performance.now()
    const { pipeline, layout } = await this.get(request.wgsl, request.bindings, request.label)
    const made = await scoped(this.device, `first dispatch of ${request.label}`, () => compileDispatch(this.device, layout, pipeline, request))
    await this.device.queue.onSubmittedWorkDone()
    for (const b of made) b.destroy()
    if (debugging("compile")) console.error(`compiled ${request.label} in ${(performance.now() - began).toFixed(0)} ms: ${request.wgsl.split("\n")[0]}`)
  }

  /** The pipeline for `wgsl` (entry point `main`), compiling it on first use. */
  get(wgsl: string, bindings: readonly BindingKind[], label = "kernel"): Promise<CachedPipeline> {
    const key = keyOf({ wgsl, bindings, label })
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
