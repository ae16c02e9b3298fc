/** The CPU oracle backend: runs a Program's kernels as generated JS, in float64 or emulated float32. */
import { compileJsKernel, type KernelFn, type Precision } from "../compile/js.ts"
import type { DType } from "../ir/node.ts"
import type { Program } from "../compile/program.ts"
import { checkInputs, inputNamed, isDeviceValue, outputNamed, packUniforms, type Chain, type DeviceValue, type Executable, type InputValue, type KernelTime, type RunOptions } from "./executable.ts"
import { programError } from "../ir/errors.ts"

type Storage = Float32Array | Float64Array | Int32Array | Uint32Array

const allocate = (dtype: DType, length: number, precision: Precision): Storage =>
  dtype === "f32" ? (precision === "f64" ? new Float64Array(length) : new Float32Array(length)) : dtype === "i32" ? new Int32Array(length) : new Uint32Array(length)

export const cpuExecutable = (program: Program, precision: Precision = "f64"): Executable => {
  const slots = program.slots.map((s) => allocate(s.dtype, s.bytes / 4, precision))
  const kernels: KernelFn[] = program.kernels.map((k) => compileJsKernel(k, precision))
  for (const c of program.constants) slots[c.slot]!.set(c.values)
  const inputSlots = new Set([...program.inputs.flatMap((i) => (i.place.kind === "buffer" ? [i.place.slot] : [])), ...program.constants.map((c) => c.slot)])
  const outputOf = (name: string) => outputNamed(program, name)

  /** Runs every kernel in order; with `timed`, returns each kernel's wall-clock time. */
  const execute = (inputs: Readonly<Record<string, InputValue>>, options: RunOptions, timed = false): KernelTime[] => {
    checkInputs(program, inputs)
    for (const input of program.inputs) {
      if (input.place.kind !== "buffer") continue
      const value = inputs[input.name] as Exclude<InputValue, number>
      const source = isDeviceValue(value) ? value.array! : value
      slots[input.place.slot]!.set(source as ArrayLike<number>)
    }
    const words = packUniforms(program, inputs, options)
    const floats: Float32Array | Float64Array = precision === "f64" ? new Float64Array(words.length) : new Float32Array(words.buffer)
    if (precision === "f64")
      program.uniforms.forEach((u, slot) => {
        if (u.dtype === "f32") floats[slot] = inputs[u.name] as number
      })
    const ints = new Int32Array(words.buffer)
    const times: KernelTime[] = []
    program.kernels.forEach((k, i) => {
      const start = timed ? performance.now() : 0
      kernels[i]!(k.reads.map((s) => slots[s]!), [k.write, ...k.siblings.map((o) => o.write)].map((s) => slots[s]!), words, floats as Float32Array, ints)
      if (timed) times.push({ name: k.name, ms: performance.now() - start })
    })
    return times
  }

  return {
    backend: "cpu",
    program,
    run(inputs: Readonly<Record<string, InputValue>>, options: RunOptions = {}) {
      execute(inputs, options)
    },
    runChain(chain: Chain) {
      for (let i = 0; i < chain.steps; i++) {
        const fed = i === 0 ? {} : Object.fromEntries(Object.entries(chain.feedback).map(([out, inp]) => [inp, slots[outputOf(out).slot]!.slice()]))
        execute({ ...chain.inputs, ...fed, ...chain.scalars(i) }, chain.options(i))
      }
    },
    async profile(inputs: Readonly<Record<string, InputValue>>, options: RunOptions = {}): Promise<readonly KernelTime[]> {
      return execute(inputs, options, true)
    },
    async read(name: string) {
      return slots[outputOf(name).slot]!.slice()
    },
    output(name: string): DeviceValue {
      const out = outputOf(name)
      return { shape: out.shape, dtype: out.dtype, array: slots[out.slot]! }
    },
    input(name: string): DeviceValue {
      const input = inputNamed(program, name)
      return { shape: input.shape, dtype: input.dtype, array: slots[input.slot]! }
    },
    poison() {
      slots.forEach((s, i) => {
        if (!inputSlots.has(i)) s.fill(s instanceof Float32Array || s instanceof Float64Array ? NaN : 0xdeadbeef)
      })
    },
    async check() {},
    destroy() {},
    [Symbol.dispose]() {},
  }
}
