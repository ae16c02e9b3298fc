/**
 * General SDEs: declared in a few lines, their structure read from the expressions, solved by every
 * solver that suits them — on WebGPU with the CPU oracle's numbers, and against closed forms.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test"
import fc from "fast-check"
import { InvalidOption } from "../../dsl/errors.ts"
import { sde, type Sde } from "../../dsl/general-sde.ts"
import { analyseSde } from "../../dsl/structure.ts"
import { solve } from "../../dsl/solve.ts"
import { auto, eulerMaruyama, heun, milstein, predictorCorrector, rk4, sra1, step, stochasticHeun, adaptive, type Solver } from "../../dsl/solvers.ts"
import { compile } from "../../src/compile/compile.ts"
import { explain } from "../../src/compile/explain.ts"
import { concat, type Tensor } from "../../src/ir/tensor.ts"
import { useGpu } from "../support/backends.ts"

setDefaultTimeout(120_000)
const gpu = useGpu()

// ---- the zoo, each in at most six lines ----------------------------------------------------------
const [mu, sigma] = [1, 1]
const gbm = sde({ name: "GBM", drift: (x) => x.mul(mu), diffusion: (x) => x.mul(sigma) })
const [theta, ouSigma] = [2, 0.5]
const ou = sde({ name: "OU", drift: (x) => x.mul(-theta), diffusion: () => ouSigma })
// Double-well Langevin: dX = −U′(X) dt + √2 dW with U(x) = (x² − 1)²; stationary density ∝ e^{−U}.
const langevin = sde({ name: "double well", drift: (x) => x.mul(x.square().sub(1)).mul(-4), diffusion: () => Math.SQRT2, T: 10 })
// A damped oscillator with noise on the velocity only: dq = p dt, dp = (−q − γp) dt + σ dW.
const oscillator = sde<{ q: Tensor; p: Tensor }>({
  name: "oscillator",
  drift: ({ q, p }) => ({ q: p, p: q.neg().sub(p.mul(0.5)) }),
  diffusion: () => ({ p: 0.7 }),
})

const filled = (n: number, v: number) => new Float32Array(n).fill(v)

describe("structure is read from the expressions", () => {
  test("GBM: multiplicative, diagonal, linear; OU and Langevin: additive; the oscillator: additive and linear", () => {
    const g = analyseSde(gbm, [4, 1])
    expect([g.additive, g.diagonal, g.linearDrift, g.zeroDiffusion]).toEqual([false, true, true, false])
    expect(g.reasons.additive).toContain("depends on the state")
    const o = analyseSde(ou, [4, 1])
    expect([o.additive, o.diagonal, o.linearDrift]).toEqual([true, true, true])
    const l = analyseSde(langevin, [4, 1])
    expect([l.additive, l.linearDrift]).toEqual([true, false])
    expect(l.reasons.linearDrift).toBe("the drift applies square to the state")
    const s = analyseSde(oscillator, { q: [4, 1], p: [4, 1] })
    expect([s.additive, s.diagonal, s.linearDrift, s.zeroDiffusion]).toEqual([true, true, true, false])
  })

  test("mixing elements, coupling fields, general noise and a zero diffusion are each named", () => {
    const mixing = sde({ drift: (x) => x, diffusion: (x) => x.sum([1], true).broadcastTo(x.shape) })
    expect(analyseSde(mixing, [4, 3]).reasons.diagonal).toContain("through sum")
    const coupled = sde<{ a: Tensor; b: Tensor }>({ drift: (x) => x, diffusion: ({ a }) => ({ b: a }) })
    expect(analyseSde(coupled, { a: [4, 1], b: [4, 1] }).reasons.diagonal).toBe(`the noise of field "b" depends on field "a"`)
    const general = sde({ drift: (x) => x, diffusion: (x) => x.reshape([4, 2, 1]).broadcastTo([4, 2, 3]), noise: { kind: "general", brownian: 3 } })
    expect(analyseSde(general, [4, 2]).reasons.diagonal).toBe("general noise with 3 Brownian motions")
    const ode = sde({ drift: (x) => x.neg(), diffusion: () => 0 })
    expect(analyseSde(ode, [4, 1]).zeroDiffusion).toBe(true)
  })

  test("auto() picks RK4 for an ODE, SRA1 for additive noise, Milstein for diagonal noise, stochastic Heun for Stratonovich general noise", async () => {
    const ode = sde({ drift: (x) => x.neg(), diffusion: () => 0 })
    const general = sde({ drift: (x) => x, diffusion: (x) => x.reshape([4, 2, 1]).broadcastTo([4, 2, 2]), noise: { kind: "general", brownian: 2 }, calculus: "stratonovich" })
    const cases: [Sde<Tensor>, readonly number[], string][] = [[ode, [4, 1], "rk4"], [ou, [4, 1], "sra1"], [gbm, [4, 1], "milstein"], [general, [4, 2], "stochastic-heun"]]
    for (const [process, shape, expected] of cases) {
      const result = await solve(process, auto(), { backend: "cpu", shape, x0: filled(shape[0]! * shape[1]!, 1), steps: 2 })
      expect(result.solver as string).toBe(expected)
    }
  })
})

describe("fusion", () => {
  test("one step of Euler–Maruyama, Milstein (with its autodiff ∂σ/∂x), SRA1 or stochastic Heun on a tensor state is one kernel", async () => {
    const strat = sde({ drift: (x) => x.mul(mu), diffusion: (x) => x.mul(sigma), calculus: "stratonovich" })
    for (const [process, solver] of [[gbm, eulerMaruyama()], [gbm, milstein()], [ou, sra1()], [strat, stochasticHeun()]] as const) {
      const exe = await compile(({ x, t, dt }: Record<string, Tensor>) => step(process, solver, x!, t!, dt!).x, { x: [64, 2], t: [], dt: [] }, { backend: "cpu" })
      expect(explain(exe).dispatches).toBe(1)
    }
  })
})

describe("WebGPU gives the CPU oracle's numbers", () => {
  const worst = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!) / Math.max(1, Math.abs(b[i]!))))
  test.each([
    ["GBM, Euler–Maruyama", gbm, eulerMaruyama()],
    ["GBM, Milstein", gbm, milstein()],
    ["OU, SRA1", ou, sra1()],
    ["double well, Euler–Maruyama", langevin, eulerMaruyama()],
  ] as const)("%s", async (_, process, solver: Solver) => {
    const options = { shape: [64, 2], x0: new Float32Array(128).map((_, i) => 0.5 + (i % 7) / 10), t1: 1, steps: 50, seed: 4, brownian: true, saveAt: [0.5] }
    const [cpu, wgsl] = [await solve(process, solver, { ...options, backend: "cpu" }), await solve(process, solver, { ...options, backend: gpu() })]
    expect(worst(wgsl.x, cpu.x)).toBeLessThan(1e-4)
    expect(worst(wgsl.brownian!, cpu.brownian!)).toBeLessThan(1e-5)
    expect(worst(wgsl.path!.x[0]!, cpu.path!.x[0]!)).toBeLessThan(1e-4)
  })

  test("a record state {q, p}: both fields, every step on the device", async () => {
    const options = { shape: { q: [32, 1], p: [32, 1] }, x0: { q: filled(32, 1), p: filled(32, 0) }, steps: 40, seed: 2 }
    const [cpu, wgsl] = [await solve(oscillator, sra1(), { ...options, backend: "cpu" }), await solve(oscillator, sra1(), { ...options, backend: gpu() })]
    expect(worst(wgsl.x.q, cpu.x.q)).toBeLessThan(1e-4)
    expect(worst(wgsl.x.p, cpu.x.p)).toBeLessThan(1e-4)
  })
})

describe("sub-steps keep the Brownian path when the step size changes", () => {
  test("W(1) of 8 steps × 16 sub-steps equals W(1) of 128 steps, on the oracle and on WebGPU", async () => {
    const options = { shape: [64, 2], x0: filled(128, 1), brownian: true, seed: 9 }
    const fine = await solve(gbm, eulerMaruyama(), { ...options, backend: "cpu", steps: 128 })
    const coarse = await solve(gbm, eulerMaruyama(), { ...options, backend: "cpu", steps: 8, substeps: 16 })
    const wgsl = await solve(gbm, eulerMaruyama(), { ...options, backend: gpu(), steps: 8, substeps: 16 })
    for (let i = 0; i < 128; i++) {
      expect(coarse.brownian![i]!).toBeCloseTo(fine.brownian![i]!, 5)
      expect(wgsl.brownian![i]!).toBeCloseTo(coarse.brownian![i]!, 4)
    }
    // Different sub-step counts at the same resolution are different paths: the test can fail.
    const other = await solve(gbm, eulerMaruyama(), { ...options, backend: "cpu", steps: 8, substeps: 15 })
    expect(Math.abs(other.brownian![0]! - fine.brownian![0]!)).toBeGreaterThan(1e-3)
  })
})

describe("closed forms", () => {
  test("saveAt returns the path at the asked times, ending at t1; the last entry is x", async () => {
    const result = await solve(ou, eulerMaruyama(), { backend: "cpu", shape: [8, 1], x0: filled(8, 1), steps: 40, saveAt: [0.25, 0.5] })
    expect(result.path!.t).toEqual([0.25, 0.5, 1])
    expect(result.path!.x[2]).toEqual(result.x)
    expect(result.steps).toBe(40)
  })

  test("OU: mean e^{−θt}·x₀ and variance σ²(1 − e^{−2θt})/2θ at t = ½ and 1, within 5 standard errors", async () => {
    const n = 20_000
    const result = await solve(ou, sra1(), { backend: "cpu", shape: [n, 1], x0: filled(n, 1), steps: 100, saveAt: [0.5], seed: 5 })
    for (const [i, t] of [0.5, 1].entries()) {
      const x = Array.from(result.path!.x[i]!)
      const mean = x.reduce((a, b) => a + b, 0) / n
      const variance = x.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)
      const [m, v] = [Math.exp(-theta * t), (ouSigma ** 2 * (1 - Math.exp(-2 * theta * t))) / (2 * theta)]
      expect(Math.abs(mean - m)).toBeLessThan(5 * Math.sqrt(v / n))
      expect(Math.abs(variance - v)).toBeLessThan(5 * v * Math.sqrt(2 / n))
    }
  })

  test("double-well Langevin reaches its stationary density ∝ e^{−U}: E[x²] and P(x > 0) within Monte-Carlo error", async () => {
    const n = 4000
    const result = await solve(langevin, eulerMaruyama(), { backend: "cpu", shape: [n, 1], x0: new Float32Array(n).fill(0), steps: 2000, seed: 6 })
    // E[x²] under e^{−U} by the midpoint rule on [−3, 3] (the density is ~e^{−64} beyond).
    let [z, m2] = [0, 0]
    for (let i = 0; i < 60_000; i++) {
      const x = -3 + (i + 0.5) * 1e-4
      const w = Math.exp(-((x * x - 1) ** 2))
      z += w
      m2 += w * x * x
    }
    const expected = m2 / z
    const x = Array.from(result.x)
    const sample = x.reduce((a, b) => a + b * b, 0) / n
    // Standard error of x² (its variance is ≲ 0.35 here) plus the O(dt) bias of Euler–Maruyama at dt = 0.005.
    expect(Math.abs(sample - expected)).toBeLessThan(5 * Math.sqrt(0.35 / n) + 0.02)
    expect(Math.abs(x.filter((v) => v > 0).length / n - 0.5)).toBeLessThan(5 * Math.sqrt(0.25 / n))
  })
})

/** Least-squares slope of log error against log step. */
const order = (steps: readonly number[], errors: readonly number[]): number => {
  const xs = steps.map((s) => Math.log(1 / s))
  const ys = errors.map(Math.log)
  const [mx, my] = [xs.reduce((a, b) => a + b) / xs.length, ys.reduce((a, b) => a + b) / ys.length]
  const num = xs.reduce((s, x, i) => s + (x - mx) * (ys[i]! - my), 0)
  return num / xs.reduce((s, x) => s + (x - mx) ** 2, 0)
}

describe("convergence orders by step halving (CPU oracle, float64, GBM with μ = σ = 1 on [0, 1])", () => {
  // The exact solution is a function of W(1), which `brownian: true` returns from the very path the
  // solver drew: strong error E|X_N − X(1)| and weak error |E[X_N − X(1)]| need no reference solve.
  const stratonovich = sde({ drift: (x) => x.mul(mu), diffusion: (x) => x.mul(sigma), calculus: "stratonovich" })
  const itoExact = (w: number) => Math.exp(mu - sigma ** 2 / 2 + sigma * w)
  const stratonovichExact = (w: number) => Math.exp(mu + sigma * w)
  const errors = async (process: Sde<Tensor>, solver: Solver, exact: (w: number) => number, steps: readonly number[], n: number) => {
    const strong: number[] = []
    const weak: number[] = []
    for (const s of steps) {
      const r = await solve(process, solver, { backend: "cpu", shape: [n, 1], x0: new Float64Array(n).fill(1), steps: s, brownian: true, seed: 11 })
      let [abs, signed] = [0, 0]
      for (let i = 0; i < n; i++) {
        const d = r.x[i]! - exact(r.brownian![i]!)
        abs += Math.abs(d)
        signed += d
      }
      strong.push(abs / n)
      weak.push(Math.abs(signed / n))
    }
    return { strong: order(steps, strong), weak: order(steps, weak) }
  }
  const table: string[] = ["| solver | order | theory | measured |", "| --- | --- | --- | --- |"]
  const row = (solver: string, kind: string, theory: number, measured: number) => {
    table.push(`| ${solver} | ${kind} | ${theory} | ${measured.toFixed(2)} |`)
    expect(Math.abs(measured - theory)).toBeLessThan(0.15)
  }
  const steps = [16, 32, 64, 128, 256]
  test("Euler–Maruyama: strong ½, weak 1", async () => {
    row("Euler–Maruyama", "strong", 0.5, (await errors(gbm, eulerMaruyama(), itoExact, steps, 4000)).strong)
    row("Euler–Maruyama", "weak", 1, (await errors(gbm, eulerMaruyama(), itoExact, [8, 16, 32, 64, 128], 20_000)).weak)
  })
  test("Milstein (∂σ/∂x by autodiff): strong 1", async () => {
    row("Milstein", "strong", 1, (await errors(gbm, milstein(), itoExact, steps, 4000)).strong)
  })
  test("stochastic Heun on the Stratonovich GBM: strong 1", async () => {
    row("stochastic Heun (Stratonovich)", "strong", 1, (await errors(stratonovich, stochasticHeun(), stratonovichExact, steps, 4000)).strong)
  })
  test("SRA1 on dX = (X − X³) dt + dW: strong 1.5 against a 4 096-step solve on the same Brownian path (sub-steps)", async () => {
    const cubic = sde({ drift: (x) => x.sub(x.pow(3)), diffusion: () => 1 })
    const [n, fine] = [1000, 4096]
    const options = { backend: "cpu" as const, shape: [n, 1], x0: new Float64Array(n).fill(0.5), seed: 3 }
    const reference = await solve(cubic, sra1(), { ...options, steps: fine })
    const coarse = [16, 32, 64, 128]
    const strong: number[] = []
    for (const s of coarse) {
      const r = await solve(cubic, sra1(), { ...options, steps: s, substeps: fine / s })
      strong.push(Array.from(r.x, (v, i) => Math.abs(v - reference.x[i]!)).reduce((a, b) => a + b) / n)
    }
    row("SRA1 (additive noise)", "strong", 1.5, order(coarse, strong))
    console.log(`convergence orders (test/dsl/general-sde.test.ts):\n${table.join("\n")}`)
  })
})

describe("invalid solver/SDE combinations are typed errors naming the reason", () => {
  const shape = [4, 2]
  const kinds = {
    ode: sde({ drift: (x) => x.neg(), diffusion: () => 0 }),
    additive: sde({ drift: (x) => x.neg(), diffusion: () => 0.3 }),
    diagonal: sde({ drift: (x) => x.neg(), diffusion: (x) => x.mul(0.3) }),
    "diagonal stratonovich": sde({ drift: (x) => x.neg(), diffusion: (x) => x.sin(), calculus: "stratonovich" }),
    mixing: sde({ drift: (x) => x.neg(), diffusion: (x) => x.square().sum([1], true).broadcastTo(x.shape) }),
    general: sde({ drift: (x) => x.neg(), diffusion: (x) => concat([x, x], 1).reshape([4, 2, 2]).mul(0.1), noise: { kind: "general", brownian: 2 } }),
  } satisfies Record<string, Sde<Tensor>>
  type Kind = keyof typeof kinds
  const solvers: Record<string, Solver> = {
    "euler-maruyama": eulerMaruyama(), milstein: milstein(), "stochastic-heun": stochasticHeun(), sra1: sra1(),
    heun: heun(), rk4: rk4(), adaptive: adaptive(), "predictor-corrector": predictorCorrector(),
  }
  // Why each pair is refused (a fragment of the message), or undefined when it is valid.
  const refusal = (kind: Kind, solver: string): string | undefined => {
    const ode = kind === "ode"
    const additive = ode || kind === "additive"
    if (["heun", "rk4", "adaptive"].includes(solver)) return ode ? undefined : "solves ODEs only"
    if (solver === "predictor-corrector") return "needs the score"
    if (solver === "sra1") return additive ? undefined : "is for additive noise"
    if (solver === "milstein") return kind === "mixing" ? "mixes elements of the state through sum" : kind === "general" ? "needs commutative noise" : undefined
    if (solver === "euler-maruyama") return kind === "diagonal stratonovich" ? "converges to the Itô solution" : undefined
    if (solver === "stochastic-heun") return additive || kind === "diagonal stratonovich" ? undefined : "converges to the Stratonovich solution"
    return undefined
  }
  test("over random pairs: valid ones solve, the others throw InvalidOption 'solver' with the reason", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...(Object.keys(kinds) as Kind[])), fc.constantFrom(...Object.keys(solvers)), async (kind, solver) => {
        const why = refusal(kind, solver)
        const run = solve(kinds[kind], solvers[solver]!, { backend: "cpu", shape, x0: filled(8, 0.5), steps: 2 })
        if (why === undefined) {
          const result = await run
          expect(result.x.every(Number.isFinite)).toBe(true)
          return
        }
        const error = await run.then(() => undefined, (e: unknown) => e)
        expect(error).toBeInstanceOf(InvalidOption)
        expect((error as InvalidOption).option).toBe("solver")
        expect((error as InvalidOption).message).toContain(why)
      }),
      { numRuns: 60, seed: 13 },
    )
  })

  test("a general SDE without a prior needs x0; a save time outside (t0, t1) is named", async () => {
    const missing = await solve(ou, eulerMaruyama(), { backend: "cpu", shape: [4, 1], steps: 2 }).catch((e: InvalidOption) => e)
    expect((missing as InvalidOption).option).toBe("x0")
    const outside = await solve(ou, eulerMaruyama(), { backend: "cpu", shape: [4, 1], x0: filled(4, 1), steps: 2, saveAt: [1.5] }).catch((e: InvalidOption) => e)
    expect((outside as InvalidOption).option).toBe("saveAt[0]")
  })

  test("a drift of the wrong shape names the field and both shapes", async () => {
    const wrong = sde({ drift: (x) => x.sum([1], true), diffusion: () => 1 })
    const error = await solve(wrong, eulerMaruyama(), { backend: "cpu", shape: [4, 3], x0: filled(12, 1), steps: 1 }).catch((e: InvalidOption) => e)
    expect((error as InvalidOption).message).toContain("[4, 3]")
    expect((error as InvalidOption).option).toBe("drift(x, t).x")
  })
})
