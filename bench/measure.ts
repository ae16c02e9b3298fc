/**
 * Measuring one workload: compile it fused and with `fuse: false`, prove the two agree (poisoned
 * buffers, every output compared, validation scopes checked), and only then time each — GPU
 * timestamps summed over kernels when the adapter has them, wall clock around run + read otherwise.
 */
import { compile } from "../src/compile/compile.ts"
import { explain } from "../src/compile/explain.ts"
import { renderWgsl } from "../src/compile/wgsl.ts"
import type { GpuHandle } from "../src/runtime/gpu.ts"
import type { Executable, InputValue, RunOptions } from "../src/runtime/executable.ts"
import { median, worstDisagreement, type OutputPair } from "./agreement.ts"
import type { Variant, WorkloadResult } from "./results.ts"
import type { Workload } from "./workloads.ts"

/** Largest relative difference between fused and unfused outputs that still counts as the same program. */
export const agreementTolerance = 1e-4

/** How many runs, and when to stop early on a slow workload (never below `minReps`). */
export interface Repetitions {
  readonly warmup: number
  readonly reps: number
  readonly budgetMs: number
}

const minReps = 3
/** The seed and step every benchmark run uses, so fused, unfused and repeated runs draw the same noise. */
export const runOptions: RunOptions = { seed: 1234, step: 7 }
const hotKernelCount = 3

/** Inputs that live on the device after the first run: timed runs then copy nothing from the host. */
export const residentInputs = (exe: Executable, inputs: Record<string, InputValue>): Record<string, InputValue> =>
  Object.fromEntries(
    Object.entries(inputs).map(([name, value]) => {
      const onDevice = typeof value !== "number" && exe.program.inputs.some((i) => i.name === name && i.place.kind === "buffer")
      return [name, onDevice ? exe.input(name) : value]
    }),
  )

/** The output cheapest to read back: reading it proves the run finished. */
const smallestOutput = (exe: Executable): string =>
  [...exe.program.outputs].sort((a, b) => a.shape.reduce((n, d) => n * d, 1) - b.shape.reduce((n, d) => n * d, 1))[0]!.name

/** Runs once from NaN-poisoned buffers under validation scopes; every output, read back. Throws on an invalid command. */
export const validatedRun = async (exe: Executable, inputs: Record<string, InputValue>): Promise<Map<string, ArrayLike<number>>> => {
  exe.poison()
  exe.run(inputs, runOptions)
  const outputs = new Map<string, ArrayLike<number>>()
  for (const { name } of exe.program.outputs) outputs.set(name, await exe.read(name))
  await exe.check()
  return outputs
}

/** Runs both once on the same inputs from poisoned buffers; the worst relative error over all outputs. */
const compareOutputs = async (fused: Executable, unfused: Executable, inputs: Record<string, InputValue>): Promise<{ error: number; output: string }> => {
  const [a, b] = [await validatedRun(fused, inputs), await validatedRun(unfused, inputs)]
  return worstDisagreement([...a].map(([name, values]): OutputPair => ({ name, fused: values, unfused: b.get(name)! })))
}

interface Timed {
  readonly ms: number
  readonly wallMs: number
  readonly reps: number
  readonly hot: Variant["hot"]
}

/** Median timings of `exe` after warm-up; per-kernel medians name the hot spots. */
const time = async (exe: Executable, inputs: Record<string, InputValue>, reps: Repetitions, timestamps: boolean): Promise<Timed> => {
  const probe = smallestOutput(exe)
  const once = async (): Promise<{ ms: number; wallMs: number; kernels?: readonly number[] }> => {
    const start = performance.now()
    if (timestamps) {
      const kernels = (await exe.profile(inputs, runOptions)).map((k) => k.ms)
      return { ms: kernels.reduce((s, k) => s + k, 0), wallMs: performance.now() - start, kernels }
    }
    exe.run(inputs, runOptions)
    await exe.read(probe)
    const wallMs = performance.now() - start
    return { ms: wallMs, wallMs }
  }
  for (let i = 0; i < reps.warmup; i++) await once()
  const samples: Awaited<ReturnType<typeof once>>[] = []
  const began = performance.now()
  while (samples.length < reps.reps && (samples.length < minReps || performance.now() - began < reps.budgetMs)) samples.push(await once())
  await exe.check()
  const kernels = exe.program.kernels
  const hot = timestamps
    ? kernels
        .map((k, i) => ({ name: k.name, ms: median(samples.map((s) => s.kernels?.[i] ?? 0)), ops: k.ops.slice(0, 8) }))
        .sort((a, b) => b.ms - a.ms)
        .slice(0, hotKernelCount)
    : []
  return { ms: median(samples.map((s) => s.ms)), wallMs: median(samples.map((s) => s.wallMs)), reps: samples.length, hot }
}

/** Counts and throughput of a compiled variant around its timings. */
const variantOf = (exe: Executable, compileMs: number, timed: Timed): Variant => {
  const e = explain(exe)
  const bytes = e.bytesRead + e.bytesWritten
  const distinct = new Set(exe.program.kernels.map((k) => renderWgsl(exe.program, k)))
  const seconds = timed.ms / 1e3
  return {
    dispatches: e.dispatches,
    kernels: distinct.size,
    bytes,
    flops: e.flops,
    compileMs,
    ms: timed.ms,
    wallMs: timed.wallMs,
    reps: timed.reps,
    gbPerS: seconds > 0 ? bytes / seconds / 1e9 : 0,
    gflopPerS: seconds > 0 ? e.flops / seconds / 1e9 : 0,
    hot: timed.hot,
  }
}

const compileTimed = async (gpu: GpuHandle, w: Workload, fuse: boolean): Promise<{ exe: Executable; ms: number }> => {
  const start = performance.now()
  const exe = await compile(w.fn, w.specs, { backend: gpu, fuse })
  return { exe, ms: performance.now() - start }
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split("\n")[0]!

/** Measures `w` on `gpu`; never throws: a failure becomes a result with status "mismatch" or "error". */
export const measureWorkload = async (gpu: GpuHandle, w: Workload, reps: Repetitions): Promise<WorkloadResult> => {
  const base = { id: w.id, title: w.title, size: w.size, bound: w.bound, note: w.note ?? null, torchMs: null, sdeflowOverTorch: null }
  const failed = (status: "mismatch" | "error", error: string, maxRelativeError: number | null = null): WorkloadResult =>
    ({ ...base, status, error, maxRelativeError, fused: null, unfused: null, fusedOverUnfused: null })
  const built: Executable[] = []
  try {
    const fused = await compileTimed(gpu, w, true)
    built.push(fused.exe)
    const unfused = await compileTimed(gpu, w, false)
    built.push(unfused.exe)
    const hostInputs = w.inputs()
    const agreement = await compareOutputs(fused.exe, unfused.exe, hostInputs)
    if (!(agreement.error <= agreementTolerance))
      return failed("mismatch", `output "${agreement.output}": fused and unfused differ by ${agreement.error.toExponential(2)} (relative, > ${agreementTolerance})`, Number.isFinite(agreement.error) ? agreement.error : null)
    const timestamps = gpu.features.has("timestamp-query")
    const fusedVariant = variantOf(fused.exe, fused.ms, await time(fused.exe, residentInputs(fused.exe, hostInputs), reps, timestamps))
    const unfusedVariant = variantOf(unfused.exe, unfused.ms, await time(unfused.exe, residentInputs(unfused.exe, hostInputs), reps, timestamps))
    return {
      ...base,
      status: "ok",
      error: null,
      maxRelativeError: agreement.error,
      fused: fusedVariant,
      unfused: unfusedVariant,
      fusedOverUnfused: unfusedVariant.ms > 0 ? fusedVariant.ms / unfusedVariant.ms : null,
    }
  } catch (e) {
    return failed("error", message(e))
  } finally {
    for (const exe of built) exe.destroy()
  }
}
