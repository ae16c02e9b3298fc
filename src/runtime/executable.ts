/** What every backend's compiled program offers, and the input checks they share. */
import type { DType } from "../ir/node.ts"
import { programError, shapeError } from "../ir/errors.ts"
import { sizeOf } from "../ir/shape.ts"
import type { Program } from "../compile/program.ts"

export type HostArray = Float32Array | Float64Array | Int32Array | Uint32Array | readonly number[]

/** What `read(name)` returns: the output's elements as the backend holds them (Float64Array from the CPU oracle at f64). */
export type OutputArray = Float32Array | Float64Array | Int32Array | Uint32Array

/** The array `read(name, dtype)` returns for an output of each dtype (bool outputs hold 0/1 as u32). */
export interface ReadArrays {
  f32: Float32Array
  i32: Int32Array
  u32: Uint32Array
  bool: Uint32Array
}

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
  /**
   * Copies an output back to the host (waits for pending runs). With `dtype`, the result is typed with
   * no cast: `await exe.read("out", "f32")` is a Float32Array, `read("idx", "i32")` an Int32Array. The
   * output must have that dtype (it rejects with a ProgramError naming both otherwise); an f32 output
   * of the CPU oracle at f64 precision is rounded to float32 then — `read(name)` keeps its Float64Array.
   */
  read<D extends keyof ReadArrays>(name: string, dtype: D): Promise<ReadArrays[D]>
  /** Without a dtype: the elements as the backend holds them, one of the four array types. */
  read(name: string): Promise<OutputArray>
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

/** What a backend does in its own way; `executableOf` adds what every backend shares. */
export interface Backend {
  readonly backend: Executable["backend"]
  readonly program: Program
  readonly pipelines?: number
  readonly run: (inputs: Readonly<Record<string, InputValue>>, options: RunOptions) => void
  readonly runChain: (chain: Chain) => void
  readonly profile: (inputs: Readonly<Record<string, InputValue>>, options: RunOptions) => Promise<readonly KernelTime[]>
  /** A host copy of buffer slot `slot` once pending runs are done. */
  readonly readSlot: (slot: number) => Promise<OutputArray>
  /** Where buffer slot `slot` lives on the device. */
  readonly deviceSlot: (slot: number) => Pick<DeviceValue, "buffer" | "array">
  /** Fills buffer slot `slot` with NaN bits (or another value no kernel writes by chance, for integer slots). */
  readonly poisonSlot: (slot: number) => void
  readonly check: () => Promise<void>
  readonly destroy: () => void
}

/**
 * An Executable from a backend's own parts, with the parts both backends share: outputs and inputs by
 * name (typed errors), typed reads, device values, and poisoning every slot the caller does not fill.
 */
export const executableOf = (b: Backend): Executable => {
  const { program } = b
  const filled = new Set([...program.inputs.flatMap((i) => (i.place.kind === "buffer" ? [i.place.slot] : [])), ...program.constants.map((c) => c.slot)])
  const read = async (name: string, dtype?: keyof ReadArrays): Promise<OutputArray> => {
    const out = outputNamed(program, name)
    if (dtype !== undefined && dtype !== out.dtype) throw programError("read", `output "${name}" is ${out.dtype}, not ${dtype}: read it as "${out.dtype}" or without a dtype`)
    const data = await b.readSlot(out.slot)
    return dtype === "f32" && !(data instanceof Float32Array) ? Float32Array.from(data) : data
  }
  return {
    backend: b.backend,
    program,
    ...(b.pipelines !== undefined ? { pipelines: b.pipelines } : {}),
    run: (inputs, options = {}) => b.run(inputs, options),
    runChain: (chain) => b.runChain(chain),
    profile: (inputs, options = {}) => b.profile(inputs, options),
    // One implementation serves both overloads: the dtype check above is what makes the typed one true.
    read: read as Executable["read"],
    output(name) {
      const out = outputNamed(program, name)
      return { shape: out.shape, dtype: out.dtype, ...b.deviceSlot(out.slot) }
    },
    input(name) {
      const input = inputNamed(program, name)
      return { shape: input.shape, dtype: input.dtype, ...b.deviceSlot(input.slot) }
    },
    poison() {
      program.slots.forEach((_, slot) => filled.has(slot) || b.poisonSlot(slot))
    },
    check: () => b.check(),
    destroy: () => b.destroy(),
    [Symbol.dispose]: () => b.destroy(),
  }
}
