/** What every backend's compiled program offers, and the input checks they share. */
import type { DType } from "../ir/node.ts"
import { programError, shapeError } from "../ir/errors.ts"
import { sizeOf } from "../ir/shape.ts"
import type { Program } from "../compile/program.ts"

export type HostArray = Float32Array | Float64Array | Int32Array | Uint32Array | readonly number[]

/** A value living on the executing device, readable and passable to another executable without a host copy. */
export interface DeviceValue {
  readonly shape: readonly number[]
  readonly dtype: DType
  /** WebGPU backend: the buffer (valid until the producing executable runs again). */
  readonly buffer?: GPUBuffer
  /** CPU backend: the array (same validity). */
  readonly array?: ArrayLike<number>
}

export type InputValue = HostArray | number | DeviceValue

/** Time of one kernel in a profiled run. */
export interface KernelTime {
  readonly name: string
  readonly ms: number
}

/** A sequence of runs whose outputs feed the next run's inputs (a solver's time steps). */
export interface Chain {
  readonly steps: number
  readonly inputs: Readonly<Record<string, InputValue>>
  /** Scalar inputs of step i (e.g. t, dt). */
  readonly scalars: (i: number) => Readonly<Record<string, number>>
  /** Seed and step counter of step i (give each step its own `step` for independent noise). */
  readonly options: (i: number) => RunOptions
  /**
   * Output name → input name: after each step, that output becomes that input of the next step, on the
   * device (`{ x: "x" }` feeds a solver's state forward). Inputs not named here keep their values.
   */
  readonly feedback: Readonly<Record<string, string>>
}

export interface RunOptions {
  /** Key of every random node (default 0). */
  readonly seed?: number
  /** Counter that makes each step's noise independent (default 0). */
  readonly step?: number
}

export interface Executable {
  readonly backend: "webgpu" | "cpu"
  readonly program: Program
  /** Distinct pipelines the kernels compiled to (WebGPU; kernels of one form share one). */
  readonly pipelines?: number
  /** Enqueues one run with new inputs; the GPU backend returns before the device finishes. */
  run(inputs: Readonly<Record<string, InputValue>>, options?: RunOptions): void
  /**
   * Runs `steps` times, feeding outputs back into inputs (`feedback`: output name → input name) on the
   * device, with per-step scalars and run options: many steps per command buffer, no host round trip.
   * The first step uses `inputs` as `run` does.
   */
  runChain(chain: Chain): void
  /** Copies an output back to the host (waits for pending runs). */
  read(name: string): Promise<Float32Array | Float64Array | Int32Array | Uint32Array>
  /** An output as a device value, to feed another executable without a round trip. */
  output(name: string): DeviceValue
  /** The value an input held in the last run: passing it back re-uses it with no copy at all. */
  input(name: string): DeviceValue
  /** Runs once with each kernel timed (GPU timestamps when available, else wall clock on the CPU backend). */
  profile(inputs: Readonly<Record<string, InputValue>>, options?: RunOptions): Promise<readonly KernelTime[]>
  /** Fills every non-input buffer with NaN bits, so any element a kernel fails to write shows. */
  poison(): void
  /** Rejects with the first validation error of any run so far (WebGPU), resolves otherwise. */
  check(): Promise<void>
  /** Releases the executable's device buffers; running it afterwards is an error. */
  destroy(): void
  /** `using exe = await compile(…)` destroys it when the block ends. */
  [Symbol.dispose](): void
}

export const isDeviceValue = (v: InputValue): v is DeviceValue => typeof v === "object" && "shape" in v && "dtype" in v && !Array.isArray(v)

/** Checks names, sizes and kinds of `inputs` against the program; errors name the input and both shapes. */
export const checkInputs = (program: Program, inputs: Readonly<Record<string, InputValue>>): void => {
  const known = new Set([...program.inputs.map((i) => i.name), ...program.unusedInputs])
  for (const name of Object.keys(inputs))
    if (!known.has(name)) throw programError("run", `unknown input "${name}" (the program takes ${[...known].map((k) => `"${k}"`).join(", ") || "no inputs"})`)
  for (const input of program.inputs) {
    const value = inputs[input.name]
    if (value === undefined) throw programError("run", `missing input "${input.name}" of shape [${input.shape.join(", ")}]`)
    if (input.place.kind === "uniform") {
      if (typeof value !== "number") throw programError("run", `input "${input.name}" is a scalar: pass a number`)
      continue
    }
    if (typeof value === "number") throw shapeError(`run input "${input.name}"`, [input.shape, []], "expected a tensor, got a number")
    if (isDeviceValue(value)) {
      if (sizeOf(value.shape) !== sizeOf(input.shape)) throw shapeError(`run input "${input.name}"`, [input.shape, value.shape], "device value has the wrong size")
    } else if (value.length !== sizeOf(input.shape))
      throw shapeError(`run input "${input.name}"`, [input.shape, [value.length]], `expected ${sizeOf(input.shape)} elements, got ${value.length}`)
  }
}

/** Packs seed, step and scalar inputs into the uniform words (f32 as bits). */
export const packUniforms = (program: Program, inputs: Readonly<Record<string, InputValue>>, options: RunOptions): Uint32Array => {
  const words = new Uint32Array(Math.max(4, Math.ceil(program.uniforms.length / 4) * 4))
  const floats = new Float32Array(words.buffer)
  const ints = new Int32Array(words.buffer)
  words[0] = (options.seed ?? 0) >>> 0
  words[1] = (options.step ?? 0) >>> 0
  program.uniforms.forEach((u, slot) => {
    if (slot < 2) return
    const v = inputs[u.name] as number
    if (u.dtype === "f32") floats[slot] = v
    else if (u.dtype === "i32") ints[slot] = v
    else words[slot] = u.dtype === "bool" ? Number(Boolean(v)) : v >>> 0
  })
  return words
}

/** The program output named `name`, or a typed error listing the outputs. */
export const outputNamed = (program: Program, name: string) => {
  const out = program.outputs.find((o) => o.name === name)
  if (!out) throw programError("read", `no output named "${name}" (outputs: ${program.outputs.map((o) => o.name).join(", ")})`)
  return out
}

/** The buffer slot of the tensor input named `name`, or a typed error. */
export const inputNamed = (program: Program, name: string) => {
  const input = program.inputs.find((i) => i.name === name)
  if (!input || input.place.kind !== "buffer") throw programError("input", `no tensor input named "${name}"`)
  return { shape: input.shape, dtype: input.dtype, slot: input.place.slot }
}
