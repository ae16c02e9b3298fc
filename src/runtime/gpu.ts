/**
 * The `Gpu` service: one scoped WebGPU device with its pipeline cache and buffer pool.
 * The platform (Bun, a browser) supplies the `GPU` entry point; this file uses only web APIs.
 */
import { Context, Effect, Layer } from "effect"
import { BufferPool } from "./buffers.ts"
import { DeviceLost, NoAdapter, installHint, type GpuError } from "./errors.ts"
import { knownAnswerFailure } from "./known-answer.ts"
import { PipelineCache, type PipelineWarmer } from "./pipelines.ts"

/** What a person wants to know about the adapter (see `sdeflow doctor`). */
export interface AdapterSummary {
  readonly vendor: string
  readonly architecture: string
  readonly device: string
  readonly description: string
  readonly isFallbackAdapter: boolean
  /** The adapter's smallest subgroup (0 when it does not say). */
  readonly subgroupMinSize: number
}

export interface GpuHandle {
  readonly device: GPUDevice
  readonly adapter: AdapterSummary
  readonly features: ReadonlySet<string>
  readonly limits: GPUSupportedLimits
  readonly pipelines: PipelineCache
  readonly pool: BufferPool
  /** Resolves with a `DeviceLost` when the device goes away (never rejects). */
  readonly lost: Promise<DeviceLost>
  /** Where measured tile shapes outlive the process (the platform's; none: measured once per process). */
  readonly tileCache?: TextStore
}

/** A small text the platform keeps between runs: a file under Bun, localStorage in a browser. */
export interface TextStore {
  /** The text last written, or undefined when there is none (or it should be measured afresh). */
  read(): string | undefined
  /** Keeps `text`; failing to keep it is not an error (the next run measures again). */
  write(text: string): void
}

/** Features requested when the adapter has them; everything else runs without. */
const optionalFeatures = ["timestamp-query", "shader-f16", "subgroups"] as const

/**
 * requestDevice with the adapter's whole limits (bun-webgpu rejects hand-picked subsets, STACK-NOTES).
 * bun-webgpu now and then marshals the feature list wrongly ("Value 629 is invalid for WGPUFeatureName",
 * about 1 run in 50 here): a fresh adapter and request succeed, so that failure is retried twice.
 */
const requestDevice = async (gpu: GPU, first: GPUAdapter, attempts = 3): Promise<{ adapter: GPUAdapter; device: GPUDevice }> => {
  let adapter = first
  for (let attempt = 1; ; attempt++) {
    const requiredFeatures = optionalFeatures.filter((f) => adapter.features.has(f)) as GPUFeatureName[]
    try {
      return { adapter, device: await adapter.requestDevice({ requiredFeatures, requiredLimits: adapter.limits as unknown as Record<string, number> }) }
    } catch (error) {
      if (attempt >= attempts || !/Invalid feature required/.test(String(error))) throw error
      adapter = (await gpu.requestAdapter({ powerPreference: "high-performance" })) ?? adapter
    }
  }
}

/** How a platform explains a missing adapter (which driver is missing); "" when it cannot tell. */
export type DriverReport = () => string

/** What a platform adds to a device: words for a missing driver, and help compiling pipelines. */
export interface GpuPlatform {
  readonly driverReport?: DriverReport
  /** Other processes that compile pipelines into a shared driver cache (see pipelines.ts), if any. */
  readonly pipelineWarmer?: (adapter: AdapterSummary) => PipelineWarmer | undefined
  /** Where autotuned tile shapes are kept between runs. */
  readonly tileCache?: TextStore
}

/** Dawn's null backend names itself so; it validates everything and executes nothing. */
export const isNullBackend = (info: { readonly device?: string; readonly description?: string }): boolean =>
  /null[- ]backend/i.test(`${info.device ?? ""} ${info.description ?? ""}`)

const noAdapter = (why: string, driverReport: DriverReport | undefined): NoAdapter => {
  const drivers = driverReport?.() ?? ""
  return new NoAdapter({ message: [why, drivers, installHint].filter((l) => l !== "").join("\n") })
}

/**
 * Requests adapter + device (with the adapter's full limits), then proves the device computes: Dawn's
 * null backend, or any adapter that gets a tiny known-answer kernel wrong, is `NoAdapter`.
 * Plain promise: used by both entries.
 */
export const openGpu = async (gpu: GPU, platform: GpuPlatform = {}): Promise<GpuHandle> => {
  const driverReport = platform.driverReport
  let adapter: GPUAdapter | null
  try {
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" })
  } catch (cause) {
    throw noAdapter(`WebGPU's requestAdapter threw: ${String(cause)}`, driverReport)
  }
  if (!adapter) throw noAdapter("WebGPU found no adapter.", driverReport)
  if (isNullBackend(adapter.info))
    throw noAdapter("WebGPU offered only Dawn's null backend, which executes nothing: no Vulkan driver loaded.", driverReport)
  const opened = await requestDevice(gpu, adapter)
  const device = opened.device
  const info = opened.adapter.info
  const failure = await knownAnswerFailure(device)
  if (failure !== null) {
    device.destroy()
    throw noAdapter(`The adapter "${info.description || info.device || info.vendor}" does not compute correctly: ${failure}.`, driverReport)
  }
  const lost = device.lost.then(
    (l) => new DeviceLost({ reason: l.reason ?? "unknown", message: `WebGPU device lost (${l.reason}): ${l.message}` }),
  )
  const summary: AdapterSummary = {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isFallbackAdapter: Boolean((info as { isFallbackAdapter?: boolean }).isFallbackAdapter),
    subgroupMinSize: Number((info as { subgroupMinSize?: number }).subgroupMinSize ?? 0),
  }
  return {
    device,
    adapter: summary,
    features: new Set(device.features as unknown as Iterable<string>),
    limits: device.limits,
    pipelines: new PipelineCache(device, platform.pipelineWarmer?.(summary)),
    pool: new BufferPool(device),
    lost,
    ...(platform.tileCache ? { tileCache: platform.tileCache } : {}),
  }
}

/** Releases everything the handle owns; safe to call twice. */
export const closeGpu = (handle: GpuHandle): void => {
  handle.pool.destroy()
  handle.device.destroy()
}

const toGpuError = (e: unknown): GpuError =>
  e instanceof NoAdapter || e instanceof DeviceLost
    ? e
    : new NoAdapter({ message: `${installHint}\n(requestDevice failed: ${String(e)})` })

export class Gpu extends Context.Service<Gpu, GpuHandle>()("sdeflow/Gpu") {
  /** A layer that opens a device from `provider` and destroys it when the scope closes. */
  static readonly layerWith = (provider: () => GPU, platform?: GpuPlatform) =>
    Layer.effect(
      Gpu,
      Effect.acquireRelease(
        Effect.tryPromise({ try: () => openGpu(provider(), platform), catch: toGpuError }),
        (handle) => Effect.sync(() => closeGpu(handle)),
      ),
    )
}

/** Runs `body` with an open device and always closes it (for scripts that do not use Effect). */
export const withGpuFrom = async <A>(provider: () => GPU, body: (gpu: GpuHandle) => Promise<A>, platform?: GpuPlatform): Promise<A> => {
  const handle = await openGpu(provider(), platform)
  try {
    return await body(handle)
  } finally {
    closeGpu(handle)
  }
}
