/**
 * `solve`: run a generative process from t0 to t1 with a solver, on WebGPU or the CPU oracle. The step
 * program is compiled once; N steps are N replays with the state kept on the device (no host round
 * trip) and noise keyed by (seed, step, element) — so a sample does not depend on the batch it is in.
 */
import { compile, type Tensor } from "../src/index.ts"
import type { CompileProgress } from "../src/runtime/pipelines.ts"
import type { GpuHandle } from "../src/runtime/gpu.ts"
import type { DeviceValue, Executable, InputValue } from "../src/runtime/executable.ts"
import { random } from "../src/ir/tensor.ts"
import { invalid } from "./errors.ts"
import type { ReverseSde } from "./reverse.ts"
import { checkSolver, step, type Solver } from "./solvers.ts"

/** Salt of the prior draw: its own random stream, apart from every step's noise. */
const PRIOR_SALT = 0x7f000001

export interface SolveOptions {
  readonly backend: GpuHandle | "cpu"
  /** State shape [N, …]. */
  readonly shape: readonly number[]
  /** Start state; default: a draw from the SDE's prior. */
  readonly x0?: InputValue
  /** Start and end times (default T → 1e-3, i.e. generation). */
  readonly t0?: number
  readonly t1?: number
  /** Fixed steps, or the initial step count guess of an adaptive solver. */
  readonly steps: number
  readonly seed?: number
  /** Further program inputs (network parameters) by name. */
  readonly inputs?: Readonly<Record<string, InputValue>>
  /** Largest number of attempted steps of an adaptive solver. */
  readonly maxSteps?: number
  /** Called as the solver's step program compiles (WebGPU): done/total pipelines. */
  readonly onCompile?: (progress: CompileProgress) => void
}

export interface Solution {
  readonly x: Float32Array | Float64Array
  /** Accepted steps and rejected attempts (the latter only for adaptive solvers). */
  readonly steps: number
  readonly rejected: number
}

export const solve = async (rev: ReverseSde, solver: Solver, options: SolveOptions): Promise<Solution> => {
  checkSolver(rev, solver)
  if (!(Number.isInteger(options.steps) && options.steps >= 1)) throw invalid("steps", options.steps, "need at least one step")
  const { backend, shape } = options
  const t0 = options.t0 ?? rev.sde.T
  const t1 = options.t1 ?? 1e-3
  const seed = options.seed ?? 0
  const inputs = options.inputs ?? {}
  const specs = { x: shape, t: [], dt: [] } as const

  let x: InputValue
  if (options.x0 !== undefined) x = options.x0
  else {
    const prior = await compile(() => random(shape, "normal", { salt: PRIOR_SALT }).mul(Math.sqrt(rev.sde.priorVariance)), {}, { backend })
    prior.run({}, { seed })
    x = prior.output("out")
  }

  const program = await compile(
    ({ x, t, dt }: { x: Tensor; t: Tensor; dt: Tensor }) => {
      const result = step(rev, solver, x, t, dt)
      const outputs: Record<string, Tensor> = { x: result.x }
      if (result.error) outputs.error = result.error
      return outputs
    },
    specs,
    { backend, onCompile: options.onCompile },
  )
  const run = (exe: Executable, state: InputValue, t: number, dt: number, i: number): DeviceValue => {
    exe.run({ ...inputs, x: state, t, dt }, { seed, step: i })
    return exe.output("x")
  }

  if (solver.kind !== "adaptive") {
    const dt = (t1 - t0) / options.steps
    // All steps recorded into a few command buffers, the state fed back on the device.
    program.runChain({
      steps: options.steps,
      inputs: { ...inputs, x, t: t0, dt },
      scalars: (i) => ({ t: t0 + i * dt, dt }),
      options: (i) => ({ seed, step: i }),
      feedback: { x: "x" },
    })
    return { x: (await program.read("x")) as Float32Array | Float64Array, steps: options.steps, rejected: 0 }
  }

  // Step-size control: a PI controller on the scaled error (Söderlind's 0.7/0.4 gains for order 3).
  // The error is one scalar read back per attempt; the state stays on the device.
  const direction = Math.sign(t1 - t0)
  let dt = (t1 - t0) / options.steps
  let t = t0
  let accepted = 0
  let rejected = 0
  let previousError = 1
  const maxSteps = options.maxSteps ?? 10_000
  while (direction * (t1 - t) > 1e-12 && accepted + rejected < maxSteps) {
    if (direction * (t + dt - t1) > 0) dt = t1 - t
    const candidate = run(program, x, t, dt, accepted + rejected)
    const error = Math.max((await program.read("error"))[0]!, 1e-10)
    if (error <= 1) {
      x = candidate
      t += dt
      accepted++
      // The next attempt overwrites the executable's output: keep the accepted state in its own copy.
      x = await program.read("x")
    } else rejected++
    const factor = error <= 1 ? 0.9 * error ** (-0.7 / 3) * previousError ** (0.4 / 3) : 0.9 * error ** (-1 / 3)
    dt *= Math.min(5, Math.max(0.2, factor))
    if (error <= 1) previousError = error
  }
  if (direction * (t1 - t) > 1e-12) throw invalid("maxSteps", maxSteps, `the adaptive solver stopped at t = ${t} before reaching ${t1}`)
  return { x: x as Float32Array, steps: accepted, rejected }
}
