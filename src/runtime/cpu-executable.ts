/** The CPU oracle backend: runs a Program's kernels as generated JS, in float64 or emulated float32. */
import { compileJsKernel, type KernelFn, type Precision } from "../compile/js.ts"
import type { DType } from "../ir/node.ts"
import type { Program } from "../compile/program.ts"
import { checkInputs, executableOf, isDeviceValue, outputNamed, packUniforms, type Chain, type Executable, type InputValue, type KernelTime, type OutputArray, type RunOptions } from "./executable.ts"

const allocate = (dtype: DType, length: number, precision: Precision): OutputArray =>
  dtype === "f32" ? (precision === "f64" ? new Float64Array(length) : new Float32Array(length)) : dtype === "i32" ? new Int32Array(length) : new Uint32Array(length)

export const cpuExecutable = (program: Program, precision: Precision = "f64"): Executable => {
  const slots = program.slots.map((s) => allocate(s.dtype, s.bytes / 4, precision))
  const kernels: KernelFn[] = program.kernels.map((k) => compileJsKernel(k, precision))
  for (const c of program.constants) slots[c.slot]!.set(c.values)

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

  return executableOf({
    backend: "cpu",
    program,
    run: (inputs, options) => void execute(inputs, options),
    runChain(chain: Chain) {
      for (let i = 0; i < chain.steps; i++) {
        const fed = i === 0 ? {} : Object.fromEntries(Object.entries(chain.feedback).map(([out, inp]) => [inp, slots[outputNamed(program, out).slot]!.slice()]))
        execute({ ...chain.inputs, ...fed, ...chain.scalars(i) }, chain.options(i))
      }
    },
    profile: async (inputs, options) => execute(inputs, options, true),
    readSlot: async (slot) => slots[slot]!.slice(),
    deviceSlot: (slot) => ({ array: slots[slot]! }),
    poisonSlot(slot) {
      const s = slots[slot]!
      s.fill(s instanceof Float32Array || s instanceof Float64Array ? NaN : 0xdeadbeef)
    },
    check: async () => {},
    destroy: () => {},
  })
}
