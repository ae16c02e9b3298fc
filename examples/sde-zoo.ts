/**
 * A zoo of SDEs, each declared in a few lines and solved on WebGPU by two solvers: geometric Brownian
 * motion, Ornstein–Uhlenbeck, double-well Langevin dynamics and a noisy damped oscillator whose state
 * is a record { q, p }. The library reads each one's structure (additive? diagonal? linear?) from the
 * expressions and refuses solvers that do not fit. The script prints that structure, the measured
 * strong orders of Euler–Maruyama and Milstein on GBM (exact solution from the solver's own Brownian
 * path), each process's moments against its closed form, and writes a PNG of sample paths.
 *
 *   npx bun run examples/sde-zoo.ts [--out runs/sde-zoo]
 */
import { join } from "node:path"
import { parseArgs } from "node:util"
import { mkdirSync } from "node:fs"
import {
  analyseSde, eulerMaruyama, milstein, pathPlot, sde, solve, sra1, withGpu, writeFileAtomicSync,
  type GpuHandle, type Sde, type ShapeOf, type Solver, type State, type Tensor,
} from "sdeflow"

const { values } = parseArgs({ options: { out: { type: "string", default: "runs/sde-zoo" } } })

// dX = μX dt + σX dW
const gbm = sde({ name: "geometric Brownian motion", drift: (x) => x.mul(1), diffusion: (x) => x.mul(1) })
// dX = −θX dt + σ dW
const ou = sde({ name: "Ornstein–Uhlenbeck", drift: (x) => x.mul(-2), diffusion: () => 0.5 })
// dX = −U′(X) dt + √2 dW, U(x) = (x² − 1)²: stationary density ∝ e^{−U}
const langevin = sde({ name: "double-well Langevin", drift: (x) => x.mul(x.square().sub(1)).mul(-4), diffusion: () => Math.SQRT2, T: 10 })
// dq = p dt, dp = (−q − γp) dt + σ dW: noise on the velocity only
const oscillator = sde<{ q: Tensor; p: Tensor }>({
  name: "noisy damped oscillator", T: 30,
  drift: ({ q, p }) => ({ q: p, p: q.neg().sub(p.mul(0.5)) }),
  diffusion: () => ({ p: 0.7 }),
})

const mean = (x: ArrayLike<number>) => Array.from(x).reduce((a, b) => a + b, 0) / x.length
const variance = (x: ArrayLike<number>) => mean(Array.from(x, (v) => v * v)) - mean(x) ** 2
const ones = (n: number) => new Float32Array(n).fill(1)
const describe = <S extends State>(process: Sde<S>, shape: ShapeOf<S>) => {
  const s = analyseSde(process, shape)
  const flags = [s.zeroDiffusion ? "ODE" : s.additive ? "additive noise" : "multiplicative noise", s.diagonal ? "diagonal" : "non-diagonal", s.linearDrift ? "linear drift" : "nonlinear drift"]
  console.log(`\n${process.name}: ${flags.join(", ")}${s.reasons.linearDrift ? ` (${s.reasons.linearDrift})` : ""}`)
}

/** Strong order of `solver` on GBM: slope of log E|X_N − X(1)| over step halving, X(1) from the solver's W(1). */
const strongOrder = async (gpu: GpuHandle, solver: Solver): Promise<string> => {
  const n = 4000
  const steps = [16, 32, 64, 128, 256]
  const errors: number[] = []
  for (const s of steps) {
    const r = await solve(gbm, solver, { backend: gpu, shape: [n, 1], x0: ones(n), steps: s, brownian: true, seed: 1 })
    errors.push(mean(Array.from(r.x, (x, i) => Math.abs(x - Math.exp(0.5 + r.brownian![i]!)))))
  }
  const slopes = errors.slice(1).map((e, i) => Math.log2(errors[i]! / e))
  return `E|error| ${errors.map((e) => e.toExponential(1)).join(" → ")}, order ${mean(slopes).toFixed(2)}`
}

await withGpu(async (gpu) => {
  mkdirSync(values.out!, { recursive: true })
  const n = 4000
  const saveAt = Array.from({ length: 59 }, (_, i) => (i + 1) / 60)
  const panels = []
  const pathsOf = (path: readonly ArrayLike<number>[], stride = 1) =>
    Array.from({ length: 8 }, (_, k) => [1, ...path.map((x) => x[k * stride]!)])

  describe(gbm, [n, 1])
  console.log(`  Euler–Maruyama: ${await strongOrder(gpu, eulerMaruyama())}   (theory ½)`)
  console.log(`  Milstein:       ${await strongOrder(gpu, milstein())}   (theory 1)`)
  const g = await solve(gbm, milstein(), { backend: gpu, shape: [n, 1], x0: ones(n), steps: 240, saveAt, seed: 2 })
  console.log(`  E[X(1)] = ${mean(g.x).toFixed(3)} (exact e = ${Math.E.toFixed(3)})`)
  panels.push({ t: [0, ...g.path!.t], paths: pathsOf(g.path!.x), rgb: [214, 39, 40] as const })

  describe(ou, [n, 1])
  for (const solver of [eulerMaruyama(), sra1()]) {
    const o = await solve(ou, solver, { backend: gpu, shape: [n, 1], x0: ones(n), steps: 120, saveAt, seed: 3 })
    console.log(`  ${o.solver}: mean ${mean(o.x).toFixed(4)} (exact ${Math.exp(-2).toFixed(4)}), variance ${variance(o.x).toFixed(4)} (exact ${((0.25 * (1 - Math.exp(-4))) / 4).toFixed(4)})`)
    if (solver.kind === "sra1") panels.push({ t: [0, ...o.path!.t], paths: pathsOf(o.path!.x) })
  }

  describe(langevin, [n, 1])
  let [z, m2] = [0, 0]
  for (let x = -3; x < 3; x += 1e-4) [z, m2] = [z + Math.exp(-((x * x - 1) ** 2)), m2 + x * x * Math.exp(-((x * x - 1) ** 2))]
  for (const solver of [eulerMaruyama(), sra1()]) {
    const l = await solve(langevin, solver, { backend: gpu, shape: [n, 1], x0: new Float32Array(n), steps: 2000, saveAt: saveAt.map((s) => s * 10), seed: 4 })
    console.log(`  ${l.solver}: E[x²] ${mean(Array.from(l.x, (v) => v * v)).toFixed(3)} (stationary ${(m2 / z).toFixed(3)}), P(x > 0) ${(Array.from(l.x).filter((v) => v > 0).length / n).toFixed(3)} (½)`)
    if (solver.kind === "sra1") panels.push({ t: [0, ...l.path!.t], paths: pathsOf(l.path!.x).map((p) => [0, ...p.slice(1)]), rgb: [44, 160, 44] as const })
  }

  const shape = { q: [n, 1], p: [n, 1] }
  describe(oscillator, shape)
  for (const solver of [eulerMaruyama(), sra1()]) {
    const s = await solve(oscillator, solver, { backend: gpu, shape, x0: { q: ones(n), p: new Float32Array(n) }, steps: 1500, saveAt: saveAt.map((v) => v * 30), seed: 5 })
    console.log(`  ${s.solver}: Var q ${variance(s.x.q).toFixed(3)}, Var p ${variance(s.x.p).toFixed(3)} (stationary σ²/2γ = 0.490 each)`)
    if (solver.kind === "sra1") panels.push({ t: [0, ...s.path!.t], paths: pathsOf(s.path!.x.map((x) => x.q)), rgb: [148, 103, 189] as const })
  }

  const file = join(values.out!, "paths.png")
  writeFileAtomicSync(file, pathPlot(panels))
  console.log(`\nsample paths (GBM, OU, double well, oscillator q): ${file}`)
})
