/**
 * The WebGPU backend: pipelines and bind groups are built once; each run writes inputs and uniforms,
 * records every kernel into one compute pass and submits — no per-run allocation or compilation.
 * Every run is validated under an error scope; `check`/`read` surface the first error as a value.
 */
import type { Program } from "../compile/program.ts"
import { dispatchGrid, kernelTexture, renderProgramWgsl, type WgslOptions } from "../compile/wgsl.ts"
import { programError } from "../ir/errors.ts"
import { readback } from "./buffers.ts"
import { Usage } from "./flags.ts"
import type { GpuHandle } from "./gpu.ts"
import type { BindingKind, CompileProgress } from "./pipelines.ts"
import { checkInputs, inputNamed, isDeviceValue, outputNamed, packUniforms, type Chain, type DeviceValue, type Executable, type InputValue, type KernelTime, type RunOptions } from "./executable.ts"
import { PassTimer } from "./timing.ts"
import { isCpuAdapterSummary } from "./adapter-policy.ts"
import { Validation } from "./errors.ts"
import { mirrorOperand, type MirroredOperand } from "./operand-texture.ts"

const SLOT_USAGE = Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST
/** Steps of a chain recorded into one command buffer. */
const CHAIN_CHUNK = 64

const typedFor = (dtype: string, bytes: ArrayBuffer) =>
  dtype === "f32" ? new Float32Array(bytes) : dtype === "i32" ? new Int32Array(bytes) : new Uint32Array(bytes)

/** Converts a host array to the 4-byte storage of `dtype`. */
const toStorage = (dtype: string, data: ArrayLike<number>): ArrayBufferView =>
  dtype === "f32" ? (data instanceof Float32Array ? data : Float32Array.from(data)) : dtype === "i32" ? Int32Array.from(data) : Uint32Array.from(data)

/** Prints every kernel's WGSL when SDEFLOW_DEBUG includes "kernels". */
const debugKernels = (): boolean => (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.SDEFLOW_DEBUG?.includes("kernels") ?? false

/** A CPU adapter (lavapipe, SwiftShader): shaders run as SIMD code on the host's cores. */
export const isCpuAdapter = (gpu: GpuHandle): boolean => isCpuAdapterSummary(gpu.adapter)

/**
 * Subgroup width for spreading row-operand loads (subgroup-k-loop.ts): on CPU adapters with subgroups,
 * whose per-lane loads are what the spreading saves; GPUs broadcast a shared address from cache anyway.
 */
export const subgroupChunkFor = (gpu: GpuHandle): number =>
  isCpuAdapter(gpu) && gpu.features.has("subgroups") && gpu.adapter.subgroupMinSize >= 4 ? Math.min(8, gpu.adapter.subgroupMinSize) : 0

/** What the adapter decides, whatever the tile shapes: subgroup spreading and texture operands (both for CPU adapters). */
const adapterChoices = (gpu: GpuHandle): WgslOptions => ({ subgroupChunk: subgroupChunkFor(gpu), laneTextures: isCpuAdapter(gpu) })

/** Adapter-dependent rendering: CPU adapters skip workgroup-memory staging, spread row loads over subgroups, read lane operands from textures. */
export const wgslOptionsFor = (gpu: GpuHandle): WgslOptions => ({ workgroupMemory: !isCpuAdapter(gpu), ...adapterChoices(gpu) })

/** `chosen` overrides the adapter's choices (tile shapes from autotuning carry none of them). */
export const webgpuExecutable = async (
  gpu: GpuHandle,
  program: Program,
  chosen: WgslOptions = wgslOptionsFor(gpu),
  onCompile?: (progress: CompileProgress) => void,
): Promise<Executable> => {
  const { device } = gpu
  const options: WgslOptions = { ...adapterChoices(gpu), ...chosen }
  const buffers = program.slots.map((s, i) => gpu.pool.acquire(s.bytes, SLOT_USAGE, `slot${i}`))
  const uniformWords = Math.max(4, Math.ceil(program.uniforms.length / 4) * 4)
  // One 256-byte-aligned uniform slot per step of a chain (minUniformBufferOffsetAlignment ≤ 256).
  const uniformStride = Math.max(256, Math.ceil((uniformWords * 4) / 256) * 256)
  const uniformBuffer = gpu.pool.acquire(uniformStride * CHAIN_CHUNK, Usage.UNIFORM | Usage.COPY_DST, "uniforms")
  for (const c of program.constants) device.queue.writeBuffer(buffers[c.slot]!, 0, c.values)
  const inputSlots = new Set([...program.inputs.flatMap((i) => (i.place.kind === "buffer" ? [i.place.slot] : [])), ...program.constants.map((c) => c.slot)])

  const lifted = renderProgramWgsl(program, options, gpu.pipelines.forms)
  // Each kernel's parameters (the sizes its form leaves open) in one static uniform buffer, 256-aligned.
  const paramOffsets: number[] = []
  let paramBytes = 0
  for (const k of lifted) {
    paramOffsets.push(paramBytes)
    if (k.params) paramBytes += Math.ceil(k.params.byteLength / 256) * 256
  }
  const paramBuffer = paramBytes > 0 ? gpu.pool.acquire(paramBytes, Usage.UNIFORM | Usage.COPY_DST, "kernel parameters") : undefined
  lifted.forEach((k, i) => k.params && device.queue.writeBuffer(paramBuffer!, paramOffsets[i]!, k.params))

  const kernels = program.kernels.map((kernel, i) => {
    const { wgsl, params } = lifted[i]!
    if (debugKernels()) console.error(wgsl)
    const writes = [kernel.write, ...kernel.siblings.map((o) => o.write)]
    const operand = kernelTexture(program, kernel, options)
    const kinds: BindingKind[] = [
      ...kernel.reads.map((_, b): BindingKind => (b === operand?.binding ? "texture" : "read")),
      ...writes.map((): BindingKind => "read_write"),
      "uniform-dynamic",
      ...(params ? ["uniform" as const] : []),
    ]
    return { kernel, wgsl, params, writes, operand, kinds }
  })
  const pipelines = await gpu.pipelines.getAll(kernels.map((k) => ({ wgsl: k.wgsl, bindings: k.kinds, label: k.kernel.name })), onCompile)

  const steps: { pipeline: GPUComputePipeline; bindGroup: GPUBindGroup; grid: [number, number, number]; mirror?: MirroredOperand }[] = []
  kernels.forEach(({ kernel, params, writes, operand }, i) => {
    const { pipeline, layout } = pipelines[i]!
    const mirror = operand && mirrorOperand(device, buffers[operand.slot]!, operand, `${kernel.name} in${operand.binding}`)
    const storage = [...kernel.reads.map((s) => buffers[s]!), ...writes.map((s) => buffers[s]!)]
    const bindGroup = device.createBindGroup({
      layout,
      label: kernel.name,
      entries: [
        ...storage.map((buffer, binding) => ({ binding, resource: binding === operand?.binding ? mirror!.texture.createView() : { buffer } })),
        { binding: storage.length, resource: { buffer: uniformBuffer, size: uniformWords * 4 } },
        ...(params ? [{ binding: storage.length + 1, resource: { buffer: paramBuffer!, offset: paramOffsets[i]!, size: params.byteLength } }] : []),
      ],
    })
    steps.push({ pipeline, bindGroup, grid: dispatchGrid(kernel, options), ...(mirror ? { mirror } : {}) })
  })

  let firstError: Validation | undefined
  let destroyed = false
  /** Returns the buffers to the device's pool (the pipelines stay cached for other programs of the same forms). */
  const destroy = (): void => {
    if (destroyed) return
    destroyed = true
    for (const b of [...buffers, uniformBuffer, ...(paramBuffer ? [paramBuffer] : [])]) gpu.pool.release(b)
    for (const step of steps) step.mirror?.texture.destroy()
  }
  const outputOf = (name: string) => outputNamed(program, name)
  // The validation result of the latest run; earlier ones resolve first (scopes pop in order).
  let pending: Promise<void> = Promise.resolve()
  const check = async () => {
    await pending
    if (firstError) throw firstError
  }

  /** Input copies/uploads of a run into its encoder (a device value already in place costs nothing). */
  const stageInputs = (encoder: GPUCommandEncoder, inputs: Readonly<Record<string, InputValue>>): void => {
    for (const input of program.inputs) {
      if (input.place.kind !== "buffer") continue
      const value = inputs[input.name] as Exclude<InputValue, number>
      const target = buffers[input.place.slot]!
      if (isDeviceValue(value)) {
        if (value.buffer !== target) encoder.copyBufferToBuffer(value.buffer!, 0, target, 0, program.slots[input.place.slot]!.bytes)
      } else {
        const data = toStorage(input.dtype, value as ArrayLike<number>)
        device.queue.writeBuffer(target, 0, data.buffer, data.byteOffset, data.byteLength)
      }
    }
  }

  /**
   * Every kernel of one run, reading uniform slot `slot`; a profiled run gives each kernel its own timed
   * pass. A kernel that reads a texture starts a new pass, after the copy that refreshes the texture.
   */
  const dispatchAll = (encoder: GPUCommandEncoder, slot: number, timer?: PassTimer): void => {
    const begin = () => encoder.beginComputePass(timer ? { timestampWrites: timer.next()! } : {})
    if (steps.length === 0) return begin().end()
    let pass: GPUComputePassEncoder | undefined
    for (const step of steps) {
      if (pass && (timer || step.mirror)) {
        pass.end()
        pass = undefined
      }
      step.mirror?.refresh(encoder)
      pass ??= begin()
      pass.setPipeline(step.pipeline)
      pass.setBindGroup(0, step.bindGroup, [slot * uniformStride])
      pass.dispatchWorkgroups(step.grid[0], step.grid[1], step.grid[2])
    }
    pass!.end()
  }

  /** Submits `encoder` under a validation scope whose verdict `check()` reports. */
  const submitChecked = (encoder: GPUCommandEncoder): void => {
    device.queue.submit([encoder.finish()])
    pending = device.popErrorScope().then((e) => {
      if (e && !firstError) firstError = new Validation({ operation: "run", message: `run: ${e.message}` })
    })
  }

  /** Records one run: input copies, uniforms, every kernel; submits; checks validity asynchronously. */
  const record = (inputs: Readonly<Record<string, InputValue>>, options: RunOptions, timer?: PassTimer): void => {
    if (destroyed) throw programError("run", "the executable was destroyed")
    checkInputs(program, inputs)
    device.pushErrorScope("validation")
    const encoder = device.createCommandEncoder()
    stageInputs(encoder, inputs)
    device.queue.writeBuffer(uniformBuffer, 0, packUniforms(program, inputs, options))
    dispatchAll(encoder, 0, timer)
    timer?.resolveInto(encoder)
    submitChecked(encoder)
  }

  /** A chain: CHAIN_CHUNK steps per command buffer, each with its uniform slot, outputs copied back to inputs. */
  const recordChain = (chain: Chain): void => {
    if (destroyed) throw programError("run", "the executable was destroyed")
    const copies = Object.entries(chain.feedback).map(([out, inp]) => {
      const [from, to] = [outputOf(out).slot, inputNamed(program, inp).slot]
      return { from: buffers[from]!, to: buffers[to]!, bytes: program.slots[to]!.bytes }
    })
    for (let start = 0; start < chain.steps; start += CHAIN_CHUNK) {
      const count = Math.min(CHAIN_CHUNK, chain.steps - start)
      device.pushErrorScope("validation")
      const encoder = device.createCommandEncoder()
      const words = new Uint32Array((uniformStride / 4) * count)
      for (let k = 0; k < count; k++) {
        const i = start + k
        const inputs = { ...chain.inputs, ...chain.scalars(i) }
        if (i === 0) {
          checkInputs(program, inputs)
          stageInputs(encoder, inputs)
        }
        words.set(packUniforms(program, inputs, chain.options(i)), (k * uniformStride) / 4)
        dispatchAll(encoder, k)
        for (const c of copies) encoder.copyBufferToBuffer(c.from, 0, c.to, 0, c.bytes)
      }
      device.queue.writeBuffer(uniformBuffer, 0, words)
      submitChecked(encoder)
    }
  }

  return {
    backend: "webgpu",
    program,
    pipelines: new Set(lifted.map((k) => k.wgsl)).size,
    run(inputs: Readonly<Record<string, InputValue>>, options: RunOptions = {}) {
      record(inputs, options)
    },
    runChain(chain: Chain) {
      recordChain(chain)
    },
    async profile(inputs: Readonly<Record<string, InputValue>>, options: RunOptions = {}): Promise<readonly KernelTime[]> {
      if (!gpu.features.has("timestamp-query")) throw programError("profile", "the adapter has no timestamp-query feature")
      const timer = new PassTimer(device, Math.max(1, steps.length))
      try {
        record(inputs, options, timer)
        const times = await timer.read((buffer, bytes) => readback(device, buffer, bytes))
        await check()
        return times.map((ms, i) => ({ name: program.kernels[i]!.name, ms }))
      } finally {
        timer.destroy()
      }
    },
    async read(name: string) {
      const out = outputOf(name)
      const bytes = await readback(device, buffers[out.slot]!, program.slots[out.slot]!.bytes)
      await check()
      return typedFor(out.dtype, bytes)
    },
    output(name: string): DeviceValue {
      const out = outputOf(name)
      return { shape: out.shape, dtype: out.dtype, buffer: buffers[out.slot]! }
    },
    input(name: string): DeviceValue {
      const input = inputNamed(program, name)
      return { shape: input.shape, dtype: input.dtype, buffer: buffers[input.slot]! }
    },
    poison() {
      buffers.forEach((b, i) => {
        if (!inputSlots.has(i)) device.queue.writeBuffer(b, 0, new Uint32Array(program.slots[i]!.bytes / 4).fill(0x7fc00001))
      })
    },
    check,
    destroy,
    [Symbol.dispose]: destroy,
  }
}
