import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { compile } from "../../src/compile/compile.ts"
import type { Tensor } from "../../src/ir/tensor.ts"
import { subvp, ve, vp } from "../../dsl/library/index.ts"
import { timeToTensor } from "../../dsl/lower-time.ts"
import { driftDivergence, type LinearSde } from "../../dsl/sde.ts"
import { evaluate } from "../../dsl/time/index.ts"
import { useGpu } from "../support/backends.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const gpu = useGpu()

// Closed forms from Song et al. (2021), written independently of the time-expression layer.
const B = (t: number) => 0.1 * t + 0.5 * (20 - 0.1) * t * t // ∫₀ᵗ β for β 0.1 → 20
const logRatio = Math.log(50 / 0.01)
interface ClosedForm {
  readonly sde: LinearSde
  readonly meanWeight: (t: number) => number
  readonly variance: (t: number) => number
  readonly priorVariance: number
}
const library: Record<string, ClosedForm> = {
  vp: { sde: vp(), meanWeight: (t) => Math.exp(-0.5 * B(t)), variance: (t) => -Math.expm1(-B(t)), priorVariance: 1 },
  subvp: {
    sde: subvp(),
    meanWeight: (t) => Math.exp(-0.5 * B(t)),
    variance: (t) => Math.expm1(-B(t)) ** 2,
    priorVariance: Math.expm1(-B(1)) ** 2 + Math.exp(-B(1)),
  },
  ve: {
    sde: ve(),
    meanWeight: () => 1,
    variance: (t) => 0.01 ** 2 * Math.expm1(2 * logRatio * t),
    priorVariance: 50 ** 2 - 0.01 ** 2 + 1,
  },
}

/** 241 times log-spaced over [1e-5, 1]: the region near 0 is where cancellation shows. */
const times = Float64Array.from({ length: 241 }, (_, k) => 1e-5 * Math.pow(1e5, k / 240))

/** Largest relative error of `actual` against the closed form at `ts`. */
const worstRelative = (actual: ArrayLike<number>, expected: (t: number) => number, ts: ArrayLike<number>): number => {
  let worst = 0
  for (let i = 0; i < ts.length; i++) worst = Math.max(worst, Math.abs(actual[i]! / expected(ts[i]!) - 1))
  return Number.isNaN(worst) ? Infinity : worst
}

describe("library SDEs: derived marginals equal the closed forms", () => {
  test.each(["vp", "ve"])("%s: m(t) and v(t) to 1e-6 relative on [1e-5, 1] (float64 evaluate)", (name) => {
    const { sde, meanWeight, variance } = library[name]!
    expect(worstRelative(Array.from(times, (t) => evaluate(sde.marginals.meanWeight, t)), meanWeight, times)).toBeLessThan(1e-6)
    expect(worstRelative(Array.from(times, (t) => evaluate(sde.marginals.variance, t)), variance, times)).toBeLessThan(1e-6)
  })

  test("subVP: m(t) and v(t) to 1e-6 relative on [2e-4, 1] (float64 evaluate)", () => {
    const { sde, meanWeight, variance } = library.subvp!
    const ts = times.filter((t) => t >= 2e-4)
    expect(worstRelative(Array.from(ts, (t) => evaluate(sde.marginals.meanWeight, t)), meanWeight, ts)).toBeLessThan(1e-6)
    expect(worstRelative(Array.from(ts, (t) => evaluate(sde.marginals.variance, t)), variance, ts)).toBeLessThan(1e-6)
  })

  // Known defect of the time layer (dsl/time, not lowered code): v = 1 − 2e^{−B} + e^{−2B} cancels in
  // float64 `evaluate`, 1.2e-4 relative at t = 1e-5. Kernels are exact (see below). Flip to `test`
  // once the derived form (or `evaluate`) is cancellation-free.
  test.failing("subVP: v(t) to 1e-6 relative down to t = 1e-5 in float64 evaluate", () => {
    const { sde, variance } = library.subvp!
    expect(worstRelative(Array.from(times, (t) => evaluate(sde.marginals.variance, t)), variance, times)).toBeLessThan(1e-6)
  })

  test.each(Object.keys(library))("%s: prior variance v(T) + m(T)²", (name) => {
    const { sde, priorVariance } = library[name]!
    expect(sde.priorVariance).toBeCloseTo(priorVariance, 9)
  })

  test("VP's drift divergence is f(t)·D = −½β(t)·D per sample", async () => {
    const exe = await compile(({ x, t }) => driftDivergence(library.vp!.sde, x, t), { x: [3, 4, 5], t: [] }, { backend: "cpu" })
    exe.run({ x: new Float64Array(60), t: 0.5 })
    const out = await exe.read("out")
    expect(Array.from(out)).toEqual([0, 1, 2].map(() => expect.closeTo(-0.5 * (0.1 + 19.9 * 0.5) * 20, 4)))
  })
})

describe("library SDEs lowered to kernels: the same marginals, on the CPU oracle and WebGPU", () => {
  const lowered = (sde: LinearSde) => ({ t }: { t: Tensor }) => ({
    m: timeToTensor(sde.marginals.meanWeight, t),
    v: timeToTensor(sde.marginals.variance, t),
    std: timeToTensor(sde.marginals.std, t),
  })

  // Measured: ≤ 4.4e-16 for all three — lowered subVP included, whose variance goes through expm1.
  test.each(Object.keys(library))("%s: CPU oracle (f64) within 1e-12 relative on [1e-5, 1]", async (name) => {
    const { sde, meanWeight, variance } = library[name]!
    const exe = await compile(lowered(sde), { t: [times.length] }, { backend: "cpu" })
    exe.run({ t: times })
    expect(worstRelative(await exe.read("m"), meanWeight, times)).toBeLessThan(1e-12)
    expect(worstRelative(await exe.read("v"), variance, times)).toBeLessThan(1e-12)
    expect(worstRelative(await exe.read("std"), (t) => Math.sqrt(variance(t)), times)).toBeLessThan(1e-12)
  })

  // Measured on lavapipe (worst over the grid, relative): VP m 3.3e-7, v 4.9e-7; subVP v 9.4e-7; VE v 1.6e-6.
  // Before subVP's variance was lowered through expm1 it was 1.2e5 here, with std = NaN at t = 1e-5.
  test.each(Object.keys(library))("%s: WebGPU (f32) within 4e-6 relative, also as t → 1e-5", async (name) => {
    const { sde, meanWeight, variance } = library[name]!
    const ts = Float32Array.from(times)
    const exe = await compile(lowered(sde), { t: [times.length] }, { backend: gpu() })
    exe.run({ t: ts })
    expect(worstRelative(await exe.read("m"), meanWeight, ts)).toBeLessThan(4e-6)
    expect(worstRelative(await exe.read("v"), variance, ts)).toBeLessThan(4e-6)
    expect(worstRelative(await exe.read("std"), (t) => Math.sqrt(variance(t)), ts)).toBeLessThan(4e-6)
    exe.destroy()
  })
})

describe("vp({ T }) keeps the reference's β for any horizon (sdeflow-light's VariancePreservingSDE)", () => {
  // Reference (sdeflow-light lib/sdes.py): β(t) = β_min + (β_max − β_min)·t,
  // mean_weight(t) = exp(−¼t²(β_max − β_min) − ½tβ_min), var(t) = 1 − exp(−½t²(β_max − β_min) − tβ_min).
  const [betaMin, betaMax, T] = [0.1, 20, 2]
  const sde = vp({ betaMin, betaMax, T })
  const reference = {
    beta: (t: number) => betaMin + (betaMax - betaMin) * t,
    meanWeight: (t: number) => Math.exp(-0.25 * t * t * (betaMax - betaMin) - 0.5 * t * betaMin),
    variance: (t: number) => -Math.expm1(-0.5 * t * t * (betaMax - betaMin) - t * betaMin),
  }
  /** 241 times log-spaced over [1e-5, T]. */
  const horizon = Float64Array.from({ length: 241 }, (_, k) => 1e-5 * Math.pow(T / 1e-5, k / 240))

  test("T = 2: β(1.5) = β_min + 1.5·(β_max − β_min) = 29.95, from f = −½β and from g² = β", () => {
    expect(sde.T).toBe(2)
    expect(-2 * evaluate(sde.f, 1.5)).toBeCloseTo(reference.beta(1.5), 12)
    expect(evaluate(sde.g, 1.5) ** 2).toBeCloseTo(29.95, 12)
    expect(-2 * evaluate(sde.f, 1)).toBeCloseTo(betaMax, 12) // β(1) = β_max whatever T is
  })

  // Measured: m exact, v 4.8e-11 (evaluate's 1 − e^{−B} near t = 1e-5). The rescaled β(t/T) gave v(0.1) = 0.058
  // (reference 0.104) and m(1.5) = 3.4e-3 (reference 1.28e-5), and β(1.5) = 15.025.
  test("T = 2: m(t), v(t) to 1e-9 relative on [1e-5, 2] and the prior variance v(2) + m(2)² (float64 evaluate)", () => {
    expect(worstRelative(Array.from(horizon, (t) => evaluate(sde.marginals.meanWeight, t)), reference.meanWeight, horizon)).toBeLessThan(1e-9)
    expect(worstRelative(Array.from(horizon, (t) => evaluate(sde.marginals.variance, t)), reference.variance, horizon)).toBeLessThan(1e-9)
    expect(evaluate(sde.marginals.variance, 1.5)).toBeCloseTo(reference.variance(1.5), 12)
    expect(sde.priorVariance).toBeCloseTo(reference.variance(T) + reference.meanWeight(T) ** 2, 12)
  })

  test("T = 2: the lowered drift divergence at t = 1.5 is −½β(1.5)·D (CPU oracle)", async () => {
    const exe = await compile(({ x, t }) => driftDivergence(sde, x, t), { x: [2, 3], t: [] }, { backend: "cpu" })
    exe.run({ x: new Float64Array(6), t: 1.5 })
    expect(Array.from(await exe.read("out"))).toEqual([0, 1].map(() => expect.closeTo(-0.5 * 29.95 * 3, 9)))
  })
})

describe("subvp shares vp's β for any horizon", () => {
  test("T = 2: f(t) of subvp equals f(t) of vp at t = 0.5, 1, 1.5, and g² = β·(1 − e^{−2∫β}) with ∫β = β_min·t + ½(β_max − β_min)·t²", () => {
    const [sub, v] = [subvp({ T: 2 }), vp({ T: 2 })]
    for (const time of [0.5, 1, 1.5]) {
      expect(evaluate(sub.f, time)).toBeCloseTo(evaluate(v.f, time), 12)
      const beta = 0.1 + 19.9 * time
      const integral = 0.1 * time + 0.5 * 19.9 * time * time
      expect(evaluate(sub.g, time) ** 2).toBeCloseTo(beta * (1 - Math.exp(-2 * integral)), 10)
    }
  })
})

