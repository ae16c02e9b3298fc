/**
 * The WebGPU backend: pipelines and bind groups are built once; each run writes inputs and uniforms,
 * records every kernel into one compute pass and submits — no per-run allocation or compilation.
 * Every run is validated under an error scope; `check`/`read` surface the first error as a value.
 */
import type { Program } from "../compile/program.ts"
import { renderProgramWgsl, type BindingKind, type WgslOptions } from "../compile/wgsl.ts"
import { programError } from "../ir/errors.ts"
import { readback } from "./buffers.ts"
import { Usage } from "./flags.ts"
import type { GpuHandle } from "./gpu.ts"
import type { CompileProgress } from "./pipelines.ts"
import { checkInputs, executableOf, inputNamed, isDeviceValue, outputNamed, packUniforms, type Chain, type Executable, type InputValue, type KernelTime, type RunOptions } from "./executable.ts"
import { PassTimer } from "./timing.ts"
import { renderOptionsFor } from "./adapter-policy.ts"
import { Validation } from "./errors.ts"
import { mirrorOperand } from "./operand-texture.ts"
import { debugging } from "./debug.ts"

const SLOT_USAGE = Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST
/** Steps of a chain recorded into one command buffer. */
const CHAIN_CHUNK = 64

const typedFor = (dtype: string, bytes: ArrayBuffer) =>
  dtype === "f32" ? new Float32Array(bytes) : dtype === "i32" ? new Int32Array(bytes) : new Uint32Array(bytes)

/** Converts a host array to the 4-byte storage of `dtype`. */
const toStorage = (dtype: string, data: ArrayLike<number>): ArrayBufferView =>
  dtype === "f32" ? (data instanceof Float32Array ? data : Float32Array.from(data)) : dtype === "i32" ? Int32Array.from(data) : Uint32Array.from(data)

/** `chosen` overrides the adapter's rendering choices (adapter-policy.ts: `renderOptionsFor`). */
export const webgpuExecutable = async (
  gpu: GpuHandle,
  program: Program,
  chosen?: WgslOptions,
  onCompile?: (progress: CompileProgress) => void,
): Promise<Executable> => {
  const { device } = gpu
  const buffers = program.slots.map((s, i) => gpu.pool.acquire(s.bytes, SLOT_USAGE, `slot${i}`))
  const uniformWords = Math.max(4, Math.ceil(program.uniforms.length / 4) * 4)
  // One 256-byte-aligned uniform slot per step of a chain (minUniformBufferOffsetAlignment ≤ 256).
  const uniformStride = Math.max(256, Math.ceil((uniformWords * 4) / 256) * 256)
  const uniformBuffer = gpu.pool.acquire(uniformStride * CHAIN_CHUNK, Usage.UNIFORM | Usage.COPY_DST, "uniforms")
  for (const c of program.constants) device.queue.writeBuffer(buffers[c.slot]!, 0, c.values)

  // Every kernel rendered once (WGSL, grid, bindings); from here on they are only executed.
  const rendered = renderProgramWgsl(program, renderOptionsFor(gpu, chosen), gpu.pipelines.forms)
  // Each kernel's parameters (the sizes its form leaves open) in one static uniform buffer, 256-aligned.
  const paramOffsets: number[] = []
  let paramBytes = 0
  for (const k of rendered) {
    paramOffsets.push(paramBytes)
    if (k.params) paramBytes += Math.ceil(k.params.byteLength / 256) * 256
  }
  const paramBuffer = paramBytes > 0 ? gpu.pool.acquire(paramBytes, Usage.UNIFORM | Usage.COPY_DST, "kernel parameters") : undefined
  rendered.forEach((k, i) => k.params && device.queue.writeBuffer(paramBuffer!, paramOffsets[i]!, k.params))
  if (debugging("kernels")) for (const k of rendered) console.error(k.wgsl)

  const pipelines = await gpu.pipelines.getAll(rendered.map((k) => ({ wgsl: k.wgsl, bindings: k.bindings, label: k.name })), onCompile)
  const steps = rendered.map((k, i) => {
    const { pipeline, layout } = pipelines[i]!
    const mirror = k.texture && mirrorOperand(device, buffers[k.texture.slot]!, k.texture, `${k.name} in${k.texture.binding}`)
    const resource = (kind: BindingKind, binding: number): GPUBindingResource =>
      kind === "texture"
        ? mirror!.texture.createView()
        : kind === "uniform-dynamic"
          ? { buffer: uniformBuffer, size: uniformWords * 4 }
          : kind === "uniform"
            ? { buffer: paramBuffer!, offset: paramOffsets[i]!, size: k.params!.byteLength }
            : { buffer: buffers[k.storage[binding]!]! }
    const bindGroup = device.createBindGroup({ layout, label: k.name, entries: k.bindings.map((kind, binding) => ({ binding, resource: resource(kind, binding) })) })
    return { pipeline, bindGroup, grid: k.grid, mirror }
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
      const [from, to] = [outputNamed(program, out).slot, inputNamed(program, inp).slot]
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

  return executableOf({
    backend: "webgpu",
    program,
    pipelines: new Set(rendered.map((k) => k.wgsl)).size,
    run: (inputs, options) => record(inputs, options),
    runChain: recordChain,
    async profile(inputs, options): Promise<readonly KernelTime[]> {
      if (!gpu.features.has("timestamp-query")) throw programError("profile", "the adapter has no timestamp-query feature")
      const timer = new PassTimer(device, Math.max(1, steps.length))
      try {
        record(inputs, options, timer)
        const times = await timer.read((buffer, bytes) => readback(device, buffer, bytes))
        await check()
        return times.map((ms, i) => ({ name: rendered[i]!.name, ms }))
      } finally {
        timer.destroy()
      }
    },
    async readSlot(slot) {
      const bytes = await readback(device, buffers[slot]!, program.slots[slot]!.bytes)
      await check()
      return typedFor(program.slots[slot]!.dtype, bytes)
    },
    deviceSlot: (slot) => ({ buffer: buffers[slot]! }),
    poisonSlot: (slot) => device.queue.writeBuffer(buffers[slot]!, 0, new Uint32Array(program.slots[slot]!.bytes / 4).fill(0x7fc00001)),
    check,
    destroy,
  })
}
