/**
 * Test support: one WebGPU device per test file, and "compile the same function on WGSL and on the
 * CPU oracle, run both the same way, and demand the same numbers" as a single call.
 */
import { afterAll, beforeAll } from "bun:test"
import { compile, type InputSpec, type Outputs } from "../../src/compile/compile.ts"
import type { Precision } from "../../src/compile/js.ts"
import type { Tensor } from "../../src/ir/tensor.ts"
import { openBunGpu } from "../../src/platform/bun.ts"
import type { InputValue, RunOptions } from "../../src/runtime/executable.ts"
import { closeGpu, type GpuHandle } from "../../src/runtime/gpu.ts"
import { seededWords } from "./seeded.ts"

export type HostResult = Float32Array | Float64Array | Int32Array | Uint32Array

/** |actual − expected| ≤ max(rtol·|expected|, atol). */
export interface Tolerance {
  readonly rtol: number
  readonly atol: number
}

/** Elementwise programs: a few f32 ulps. The floor covers results that cancel to near 0. */
export const elementwise: Tolerance = { rtol: 1e-5, atol: 1e-6 }
/** Reductions and contractions: summation order and FMA contraction differ between the backends. */
export const reduction: Tolerance = { rtol: 1e-4, atol: 1e-5 }

/** Opens one shared device before the file's tests and closes it after them; call at file top level. */
export const useGpu = (): (() => GpuHandle) => {
  let handle: GpuHandle | undefined
  beforeAll(async () => {
    handle = await openBunGpu()
  })
  afterAll(() => {
    if (handle) closeGpu(handle)
  })
  return () => {
    if (!handle) throw new Error("useGpu: the device is opened in beforeAll; call the getter inside a test")
    return handle
  }
}

type Fn<I extends Record<string, InputSpec>> = (inputs: { [K in keyof I]: Tensor }) => Outputs

export interface RunSpec extends RunOptions {
  readonly fuse?: boolean
}

/**
 * Compiles `fn` for `backend`, poisons every non-input buffer, runs once, checks for validation
 * errors and reads every output back. The executable is destroyed afterwards.
 */
export const runOnce = async <I extends Record<string, InputSpec>>(
  backend: GpuHandle | "cpu",
  fn: Fn<I>,
  specs: I,
  inputs: Readonly<Record<string, InputValue>>,
  options: RunSpec & { readonly precision?: Precision } = {},
): Promise<Record<string, HostResult>> => {
  const exe = await compile(fn, specs, { backend, fuse: options.fuse, precision: options.precision })
  try {
    exe.poison()
    exe.run(inputs, { seed: options.seed, step: options.step })
    await exe.check()
    const results: Record<string, HostResult> = {}
    for (const out of exe.program.outputs) results[out.name] = await exe.read(out.name)
    await exe.check()
    return results
  } finally {
    exe.destroy()
  }
}

/** Indices (with values) where `actual` and `expected` disagree beyond `tolerance`; NaN only matches NaN. */
export const mismatches = (actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: Tolerance) => {
  const bad: { index: number; actual: number; expected: number }[] = []
  if (actual.length !== expected.length) return [{ index: -1, actual: actual.length, expected: expected.length }]
  for (let i = 0; i < expected.length; i++) {
    const [a, e] = [actual[i]!, expected[i]!]
    if (Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e))) continue
    // Written as !(≤) so that a NaN on one side only fails.
    if (!(Math.abs(a - e) <= Math.max(tolerance.rtol * Math.abs(e), tolerance.atol))) bad.push({ index: i, actual: a, expected: e })
  }
  return bad
}

/** Throws a readable error naming the first disagreements. */
export const expectClose = (actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: Tolerance, label = "output"): void => {
  const bad = mismatches(actual, expected, tolerance)
  if (bad.length === 0) return
  const shown = bad.slice(0, 5).map((b) => `[${b.index}] got ${b.actual}, expected ${b.expected}`).join("; ")
  throw new Error(`${label}: ${bad.length} of ${expected.length} elements differ (rtol ${tolerance.rtol}, atol ${tolerance.atol}): ${shown}`)
}

/**
 * Runs `fn` on WebGPU and on the float32 CPU oracle with the same inputs, seed and step, and expects
 * every output to agree within `tolerance`. Returns both backends' outputs.
 */
export const expectBackendsAgree = async <I extends Record<string, InputSpec>>(
  gpu: GpuHandle,
  fn: Fn<I>,
  specs: I,
  inputs: Readonly<Record<string, InputValue>>,
  options: RunSpec & { readonly tolerance?: Tolerance; readonly label?: string } = {},
): Promise<{ gpu: Record<string, HostResult>; cpu: Record<string, HostResult> }> => {
  const onGpu = await runOnce(gpu, fn, specs, inputs, options)
  const onCpu = await runOnce("cpu", fn, specs, inputs, { ...options, precision: "f32" })
  for (const name of Object.keys(onCpu))
    expectClose(onGpu[name]!, onCpu[name]!, options.tolerance ?? elementwise, `${options.label ?? "program"} output "${name}"`)
  return { gpu: onGpu, cpu: onCpu }
}

/** Deterministic data in [lo, hi) (mulberry32), so a failing case replays exactly. */
export const randomData = (length: number, seed: number, lo = -2, hi = 2): Float32Array => {
  const next = seededWords(seed)
  return Float32Array.from({ length }, () => lo + (hi - lo) * (next() / 4294967296))
}

/** Random data for every tensor input of `specs` (scalars get a value in [0.1, 0.9]). */
export const inputsFor = (specs: Readonly<Record<string, readonly number[]>>, seed: number): Record<string, InputValue> =>
  Object.fromEntries(
    Object.entries(specs).map(([name, shape], i) =>
      shape.length === 0 ? [name, 0.1 + 0.8 * randomData(1, seed + 7919 * i, 0, 1)[0]!] : [name, randomData(shape.reduce((a, b) => a * b, 1), seed + 7919 * i)],
    ),
  )
