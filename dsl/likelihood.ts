/**
 * Exact log-likelihood through the probability-flow ODE dx/dt = v(x, t) = f(x, t) − ½·g(t)·a(x, t):
 *   log p₀(x) = log p_T(x(T)) + ∫_ε^T ∇·v(x(t), t) dt,
 * integrated forward with RK4 on the augmented state (x, ∫∇·v), on the device. ∇·v = f(t)·D − ½·g·∇·a:
 * the linear part is exact; ∇·a is exact (D vjps, for small D) or Hutchinson with one fixed probe per
 * trajectory (as FFJORD), so the estimate is unbiased; several probes average independent trajectories.
 */
import { compile } from "../src/compile/compile.ts"
import { vjp } from "../src/ir/autodiff.ts"
import { rademacher, type Tensor } from "../src/ir/tensor.ts"
import type { GpuHandle } from "../src/runtime/gpu.ts"
import type { Executable, InputValue } from "../src/runtime/executable.ts"
import { tensorData } from "../src/ir/tensor.ts"
import { checkKeys, invalid } from "./errors.ts"
import { timeToTensor } from "./lower-time.ts"
import { aOf, checkDriftModel, type DriftModel } from "./reverse.ts"
import { diffusion, drift, driftDivergence, priorLogDensity, type LinearSde } from "./sde.ts"

export interface LikelihoodOptions {
  readonly backend: GpuHandle | "cpu"
  /** Data shape [N, …]. */
  readonly shape: readonly number[]
  readonly steps?: number
  readonly eps?: number
  /** "exact" takes D vector–Jacobian products per evaluation (fine for D ≲ 64). */
  readonly divergence?: "exact" | "hutchinson"
  readonly seed?: number
  /** Hutchinson only: independent probes whose estimates are averaged (variance falls as 1/probes). Default 1. */
  readonly probes?: number
  readonly inputs?: Readonly<Record<string, InputValue>>
}

const sampleAxes = (x: Tensor) => Array.from({ length: x.rank - 1 }, (_, i) => i + 1)

/** ∇·a at x per sample: exactly, via one vjp per coordinate, or by one Hutchinson probe. */
const divergenceOfA = (a: Tensor, x: Tensor, mode: "exact" | "hutchinson", probe: Tensor): Tensor => {
  if (mode === "hutchinson") return vjp(a, [x], probe)[0]!.mul(probe).sum(sampleAxes(x))
  const dims = x.size / x.shape[0]!
  let total: Tensor | undefined
  for (let i = 0; i < dims; i++) {
    const basis = new Float32Array(dims)
    basis[i] = 1
    const e = tensorData(basis, [1, ...x.shape.slice(1)]).broadcastTo(x.shape)
    const term = vjp(a, [x], e)[0]!.mul(e).sum(sampleAxes(x))
    total = total ? total.add(term) : term
  }
  return total!
}

/**
 * Compiles and runs the Hutchinson probe program: one fixed Rademacher sign per element, keyed by `seed`.
 * Its own salt stream keeps it independent of the data's noise (e.g. dequantisation run at the same seed).
 */
export const drawProbe = async (backend: GpuHandle | "cpu", shape: readonly number[], seed: number, index = 0): Promise<Executable> => {
  const program = await compile(() => rademacher(shape, { stream: "hutchinsonProbe" }), {}, { backend })
  program.run({}, { seed, step: index })
  return program
}

/** Per-sample log p₀(x) in nats for data x (host array [N·D]). */
export const probabilityFlowLikelihood = async (
  sde: LinearSde,
  model: DriftModel,
  data: InputValue,
  options: LikelihoodOptions,
): Promise<Float32Array | Float64Array> => {
  checkKeys<LikelihoodOptions>("probabilityFlowLikelihood", options, { backend: true, shape: true, steps: true, eps: true, divergence: true, seed: true, probes: true, inputs: true })
  checkDriftModel(model)
  const steps = options.steps ?? 100
  const eps = options.eps ?? 1e-5
  if (!(Number.isInteger(steps) && steps >= 1)) throw invalid("steps", steps, "need at least one step")
  if (!(eps > 0 && eps < sde.T)) throw invalid("eps", eps, `must lie in (0, T = ${sde.T})`)
  const mode = options.divergence ?? "exact"
  const probes = options.probes ?? 1
  if (!(Number.isInteger(probes) && probes >= 1)) throw invalid("probes", probes, "need a whole number of probes, at least one")
  const { backend, shape } = options
  const n = shape[0]!
  const inputs = options.inputs ?? {}

  /** v(x, t) and ∇·v(x, t). */
  const field = (x: Tensor, t: Tensor, probe: Tensor): [Tensor, Tensor] => {
    const a = aOf(sde, model, x, t)
    const v = drift(sde, x, t).sub(diffusion(sde, x, t).mul(a).mul(0.5))
    const div = driftDivergence(sde, x, t).sub(divergenceOfA(a, x, mode, probe).mul(timeToTensor(sde.g, t).mul(0.5)))
    return [v, div]
  }
  const rk4 = await compile(
    ({ x, total, probe, t, dt }: { x: Tensor; total: Tensor; probe: Tensor; t: Tensor; dt: Tensor }) => {
      const half = dt.mul(0.5)
      const [k1, d1] = field(x, t, probe)
      const [k2, d2] = field(x.add(k1.mul(half)), t.add(half), probe)
      const [k3, d3] = field(x.add(k2.mul(half)), t.add(half), probe)
      const [k4, d4] = field(x.add(k3.mul(dt)), t.add(dt), probe)
      const sixth = dt.div(6)
      return {
        x: x.add(k1.add(k2.mul(2)).add(k3.mul(2)).add(k4).mul(sixth)),
        total: total.add(d1.add(d2.mul(2)).add(d3.mul(2)).add(d4).mul(sixth)),
      }
    },
    { x: shape, total: [n], probe: shape, t: [], dt: [] },
    { backend },
  )
  const final = await compile(({ x, total }: { x: Tensor; total: Tensor }) => priorLogDensity(sde, x).add(total), { x: shape, total: [n] }, { backend })
  const dt = (sde.T - eps) / steps
  // The exact divergence uses no probe: one trajectory is the answer.
  const trajectories = mode === "exact" ? 1 : probes
  const mean = new Float64Array(n)
  try {
    for (let k = 0; k < trajectories; k++) {
      const probe = await drawProbe(backend, shape, options.seed ?? 0, k)
      rk4.runChain({
        steps,
        inputs: { ...inputs, x: data, total: new Float32Array(n), probe: probe.output("out"), t: eps, dt },
        scalars: (i) => ({ t: eps + i * dt, dt }),
        options: () => ({}),
        feedback: { x: "x", total: "total" },
      })
      final.run({ x: rk4.output("x"), total: rk4.output("total") })
      const logp = await final.read("out")
      probe.destroy()
      for (let i = 0; i < n; i++) mean[i] = mean[i]! + logp[i]! / trajectories
    }
  } finally {
    rk4.destroy()
    final.destroy()
  }
  return options.backend === "cpu" ? mean : Float32Array.from(mean)
}
