/**
 * `solve`: run any SDE (`sde(…)`, `pluginReverse(…)`, …) from t0 to t1 with a solver, on WebGPU or the
 * CPU oracle. The step program is compiled once; N steps are N replays with the state kept on the
 * device (no host round trip) and noise keyed by (seed, step, element) — so a sample does not depend
 * on the batch it is in. `saveAt` returns the path at given times; `brownian` returns the driving
 * Brownian motion W(t) − W(t0) alongside, the same path the solver used (strong errors need it).
 */
import { compile } from "../src/compile/compile.ts"
import type { Tensor } from "../src/ir/tensor.ts"
import type { CompileProgress } from "../src/runtime/pipelines.ts"
import type { GpuHandle } from "../src/runtime/gpu.ts"
import type { InputValue } from "../src/runtime/executable.ts"
import { checkKeys, invalid } from "./errors.ts"
import type { Sde } from "./general-sde.ts"
import { fieldShapes, fieldsOf, isTensorShaped, stateLike, TENSOR_FIELD, type FieldsOf, type ShapeOf, type State } from "./state.ts"
import { analyseSde, type SdeStructure } from "./structure.ts"
import { checkSolver, chooseSolver, step, type Solver } from "./solvers.ts"

/** The step counter of the prior draw: one no solver step reaches, so its noise is its own. */
const PRIOR_STEP = 0x7fffffff

/**
 * The adaptive solver's step-size controller: a PI controller on the scaled error with Söderlind's
 * gains for an error estimate of order 3 (Bogacki–Shampine 3(2)). The next step is the last one times
 * `safety`·error^(−proportional/order)·previous^(integral/order) after an accepted step, or
 * `safety`·error^(−1/order) after a rejected one, and never grows or shrinks by more than
 * `maxGrowth` / `minShrink` at once.
 */
const STEP_CONTROL = { order: 3, safety: 0.9, proportional: 0.7, integral: 0.4, maxGrowth: 5, minShrink: 0.2 } as const

export type HostValues = Float32Array | Float64Array

export interface SolveOptions<S extends State = Tensor> {
  readonly backend: GpuHandle | "cpu"
  /** State shape: [N, …] for a tensor state, a record of shapes for a record state. */
  readonly shape: ShapeOf<S>
  /** Start state; default: a draw of the SDE's prior (an SDE without one needs x0). */
  readonly x0?: FieldsOf<S, InputValue>
  /** Start and end times; default: the SDE's span ([0, T] forward, T → ε (`DEFAULT_END_TIME` of reverse.ts) for a plug-in reverse SDE). */
  readonly t0?: number
  readonly t1?: number
  /** Fixed steps in all (spread over the saveAt segments), or the initial step count guess of an adaptive solver. */
  readonly steps: number
  readonly seed?: number
  /** Further program inputs (network parameters) by name. */
  readonly inputs?: Readonly<Record<string, InputValue>>
  /** Largest number of attempted steps of an adaptive solver. */
  readonly maxSteps?: number
  /** Times strictly between t0 and t1 (in that direction) at which to record the state. */
  readonly saveAt?: readonly number[]
  /** Return W(t) − W(t0) of the Brownian motion the solver drew, at t1 and at every saveAt time. */
  readonly brownian?: boolean
  /**
   * Each step's Brownian increments summed over this many sub-steps keyed on a fine grid (default 1):
   * solves whose steps × substeps agree are driven by the same Brownian path (strong errors against
   * a finer solve, step-halving studies).
   */
  readonly substeps?: number
  /** Called as the solver's step program compiles (WebGPU): done/total pipelines. */
  readonly onCompile?: (progress: CompileProgress) => void
}

export interface Solution<S extends State = Tensor> {
  /** The state at t1. */
  readonly x: FieldsOf<S, HostValues>
  /** Accepted steps and rejected attempts (the latter only for adaptive solvers). */
  readonly steps: number
  readonly rejected: number
  /** The solver that ran (what auto() chose). */
  readonly solver: Solver["kind"]
  /** W(t1) − W(t0), with `brownian: true`. */
  readonly brownian?: FieldsOf<S, HostValues>
  /** With `saveAt`: the state (and Brownian motion) at each saveAt time, then at t1. */
  readonly path?: { readonly t: readonly number[]; readonly x: readonly FieldsOf<S, HostValues>[]; readonly brownian?: readonly FieldsOf<S, HostValues>[] }
}

const inputName = (field: string) => `x.${field}`
const brownianName = (field: string) => `w.${field}`

/** The save times, checked to lie strictly inside (t0, t1) and in order, then t1. */
const segmentEnds = (t0: number, t1: number, saveAt: readonly number[]): number[] => {
  const direction = Math.sign(t1 - t0)
  let previous = t0
  for (const [i, s] of saveAt.entries()) {
    if (!(Number.isFinite(s) && direction * (s - previous) > 0 && direction * (t1 - s) > 0))
      throw invalid(`saveAt[${i}]`, s, `save times must lie strictly between t0 = ${t0} and t1 = ${t1}, in order`)
    previous = s
  }
  return [...saveAt, t1]
}

const solveOptionKeys: Record<keyof SolveOptions, true> = {
  backend: true, shape: true, x0: true, t0: true, t1: true, steps: true, seed: true, inputs: true, maxSteps: true, saveAt: true, brownian: true, substeps: true, onCompile: true,
}

export const solve = async <S extends State = Tensor>(process: Sde<S>, solver: Solver, options: SolveOptions<S>): Promise<Solution<S>> => {
  checkKeys<SolveOptions<S>>("solve", options, solveOptionKeys)
  if (!(Number.isInteger(options.steps) && options.steps >= 1)) throw invalid("steps", options.steps, "need at least one step")
  const { backend, shape } = options
  const structure: SdeStructure = analyseSde(process, shape)
  const chosen = solver.kind === "auto" ? chooseSolver(process, structure) : solver
  checkSolver(process, chosen, structure)
  const [t0, t1] = [options.t0 ?? process.span[0], options.t1 ?? process.span[1]]
  if (!(Number.isFinite(t0) && Number.isFinite(t1) && t0 !== t1)) throw invalid("t1", t1, `t0 = ${t0} and t1 must be finite and different`)
  const ends = segmentEnds(t0, t1, options.saveAt ?? [])
  const seed = options.seed ?? 0
  const inputs = options.inputs ?? {}
  const shapes = fieldShapes(shape)
  const fields = Object.keys(shapes)
  const withBrownian = options.brownian === true
  if (withBrownian && structure.zeroDiffusion) throw invalid("brownian", true, "this SDE is an ODE: no Brownian motion drives it")
  const asState = <V>(values: Readonly<Record<string, V>>): FieldsOf<S, V> => (isTensorShaped(shape) ? values[TENSOR_FIELD]! : values) as FieldsOf<S, V>

  // The start state, as one input value per field. A prior draw lives in the prior program's buffers,
  // which the first step reads: both programs are destroyed when the solve returns or throws.
  if (options.x0 === undefined && !process.prior) throw invalid("x0", undefined, `${process.name} has no prior to start from: give x0`)
  using prior = options.x0 === undefined ? await compile(() => ({ ...fieldsOf(process.prior!(shape)) }), {}, { backend }) : undefined
  let state: Record<string, InputValue>
  if (prior) {
    prior.run({}, { seed, step: PRIOR_STEP })
    state = Object.fromEntries(fields.map((f) => [f, prior.output(f)]))
  } else state = isTensorShaped(shape) ? { [TENSOR_FIELD]: options.x0 as InputValue } : { ...(options.x0 as Record<string, InputValue>) }
  for (const f of fields) if (state[f] === undefined) throw invalid(`x0.${f}`, undefined, `the start state has no value for field "${f}"`)

  const brownianShapes = Object.fromEntries(
    fields.map((f) => [f, process.noise === "diagonal" ? shapes[f]! : [shapes[f]![0]!, process.noise.brownian]]),
  )
  const specs = {
    ...Object.fromEntries(fields.map((f) => [inputName(f), shapes[f]!])),
    ...(withBrownian ? Object.fromEntries(fields.map((f) => [brownianName(f), brownianShapes[f]!])) : {}),
    t: [],
    dt: [],
  }
  using program = await compile(
    (i: Record<string, Tensor>) => {
      const x = stateLike<S>(shape, Object.fromEntries(fields.map((f) => [f, i[inputName(f)]!])))
      const result = step(process, chosen, x, i.t!, i.dt!, { substeps: options.substeps })
      const next = fieldsOf(result.x)
      const outputs: Record<string, Tensor> = Object.fromEntries(fields.map((f) => [inputName(f), next[f]!]))
      if (withBrownian) for (const f of fields) outputs[brownianName(f)] = i[brownianName(f)]!.add(result.dW![f]!)
      if (result.error) outputs.error = result.error
      return outputs
    },
    specs,
    { backend, onCompile: options.onCompile },
  )
  let brownian: Record<string, InputValue> = Object.fromEntries(fields.map((f) => [f, new Float32Array(brownianShapes[f]!.reduce((a, b) => a * b, 1))]))
  const stepInputs = (t: number, dt: number) => ({
    ...inputs,
    ...Object.fromEntries(fields.map((f) => [inputName(f), state[f]!])),
    ...(withBrownian ? Object.fromEntries(fields.map((f) => [brownianName(f), brownian[f]!])) : {}),
    t,
    dt,
  })
  const readAll = async (name: (f: string) => string): Promise<Record<string, HostValues>> =>
    Object.fromEntries(await Promise.all(fields.map(async (f) => [f, (await program.read(name(f))) as HostValues] as const)))
  const feedback = {
    ...Object.fromEntries(fields.map((f) => [inputName(f), inputName(f)])),
    ...(withBrownian ? Object.fromEntries(fields.map((f) => [brownianName(f), brownianName(f)])) : {}),
  }

  const path = { t: [] as number[], x: [] as FieldsOf<S, HostValues>[], brownian: [] as FieldsOf<S, HostValues>[] }
  const record = async (t: number): Promise<void> => {
    const x = await readAll(inputName)
    state = x
    path.t.push(t)
    path.x.push(asState(x))
    if (withBrownian) {
      brownian = await readAll(brownianName)
      path.brownian.push(asState(brownian as Record<string, HostValues>))
    }
  }
  const solution = (steps: number, rejected: number): Solution<S> => {
    const last = path.x.length - 1
    return {
      x: path.x[last]!,
      steps,
      rejected,
      solver: chosen.kind,
      ...(withBrownian ? { brownian: path.brownian[last]! } : {}),
      ...(options.saveAt?.length ? { path: { t: path.t, x: path.x, ...(withBrownian ? { brownian: path.brownian } : {}) } } : {}),
    }
  }

  if (chosen.kind !== "adaptive") {
    // Steps spread over the segments by length (at least one each); the step counter, and so the
    // noise, runs on across segments. Each segment is one chain recorded into a few command buffers.
    let counter = 0
    let start = t0
    for (const end of ends) {
      const n = Math.max(1, Math.round((options.steps * (end - start)) / (t1 - t0)))
      const dt = (end - start) / n
      const offset = counter
      const from = start
      program.runChain({ steps: n, inputs: stepInputs(from, dt), scalars: (i) => ({ t: from + i * dt, dt }), options: (i) => ({ seed, step: offset + i }), feedback })
      counter += n
      await record(end)
      start = end
    }
    return solution(counter, 0)
  }

  // Step-size control (STEP_CONTROL). The error is one scalar read back per attempt; the state stays
  // on the device until accepted.
  const { order, safety, proportional, integral, maxGrowth, minShrink } = STEP_CONTROL
  const direction = Math.sign(t1 - t0)
  let dt = (t1 - t0) / options.steps
  let t = t0
  let accepted = 0
  let rejected = 0
  let previousError = 1
  const maxSteps = options.maxSteps ?? 10_000
  for (const end of ends) {
    while (direction * (end - t) > 1e-12 && accepted + rejected < maxSteps) {
      const h = direction * (t + dt - end) > 0 ? end - t : dt
      program.run(stepInputs(t, h) as Record<string, InputValue>, { seed, step: accepted + rejected })
      const error = Math.max((await program.read("error"))[0]!, 1e-10)
      if (error <= 1) {
        t += h
        accepted++
        // The next attempt overwrites the executable's outputs: keep the accepted state in its own copy.
        state = await readAll(inputName)
      } else rejected++
      const factor = error <= 1 ? safety * error ** (-proportional / order) * previousError ** (integral / order) : safety * error ** (-1 / order)
      dt = h * Math.min(maxGrowth, Math.max(minShrink, factor))
      if (error <= 1) previousError = error
    }
    if (direction * (end - t) > 1e-12) throw invalid("maxSteps", maxSteps, `the adaptive solver stopped at t = ${t} before reaching ${end}`)
    path.t.push(end)
    path.x.push(asState(state as Record<string, HostValues>))
  }
  return solution(accepted, rejected)
}

