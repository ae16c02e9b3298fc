import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { compile } from "../../src/compile/compile.ts"
import { ve, vp } from "../../dsl/library/index.ts"
import { importanceSampler, importanceTime, sampleTimes, uniformTime } from "../../dsl/importance.ts"
import { linearSde, type LinearSde } from "../../dsl/sde.ts"
import { constant, evaluate, t } from "../../dsl/time/index.ts"
import { useGpu } from "../support/backends.ts"
import { ksCritical, ksStatistic, meanAndError } from "../support/gaussian.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const gpu = useGpu()
const eps = 1e-3
const n = 100_000

/** An SDE nobody wrote a closed form for: OU with a time-varying diffusion, whose variance needs quadrature. */
const ou = linearSde({ name: "ou(g = 1 + sin t)", f: -1, g: constant(1).add(t.sin()) })

/** t and 1/q(t) for n samples, drawn inside one compiled WebGPU program. */
const drawOnGpu = async (sde: LinearSde, sampling = importanceTime(eps)) => {
  const exe = await compile(() => sampleTimes(sde, sampling, n), {}, { backend: gpu() })
  exe.run({}, { seed: 17 })
  const result = { t: await exe.read("t"), weight: await exe.read("weight") }
  exe.destroy()
  return result
}

describe("importance sampling of t, q(t) ∝ g²/v flat below ε", () => {
  test("VP (β 0.1 → 20, ε = 1e-3): normaliser Z ≈ 20.2559", () => {
    expect(importanceSampler(vp(), eps).Z).toBeCloseTo(20.2559, 4)
  })

  test("the user-written OU needs tables, which reach the kernel as gathers", () => {
    expect(ou.marginals.method.variance).toBe("quadrature")
    expect(importanceSampler(ou, eps).method).toEqual({ cdf: "quadrature", inverseCdf: "table" })
  })

  test.each([
    ["VP", vp()],
    ["VE", ve()],
    ["OU with g = 1 + sin t", ou],
  ] as const)("%s: 100k times drawn in a WebGPU kernel pass a KS test against the derived CDF", async (_, sde) => {
    const q = importanceSampler(sde, eps)
    const { t: ts, weight } = await drawOnGpu(sde)
    expect(ksStatistic(ts, (x) => evaluate(q.cdf, x))).toBeLessThan(ksCritical(n))
    expect(Math.min(...ts)).toBeGreaterThanOrEqual(0)
    expect(Math.max(...ts)).toBeLessThanOrEqual(sde.T * (1 + 1e-6))
    // The kernel's weight is 1/q at the drawn t (float32), and E_q[1/q] = ∫₀ᵀ dt = T: unbiasedness.
    for (let i = 0; i < 1000; i++) expect(weight[i]! * evaluate(q.density, ts[i]!)).toBeCloseTo(1, 4)
    const { mean, stderr } = meanAndError(weight)
    expect(Math.abs(mean - sde.T)).toBeLessThan(4 * stderr)
  })

  test("uniform sampling covers [ε, T] with the constant weight T − ε", async () => {
    const { t: ts, weight } = await drawOnGpu(vp(), uniformTime(1e-2))
    expect(ksStatistic(ts, (x) => (x - 1e-2) / (1 - 1e-2))).toBeLessThan(ksCritical(n))
    expect(Math.min(...ts)).toBeGreaterThanOrEqual(1e-2)
    expect(new Set(weight)).toEqual(new Set([Math.fround(1 - 1e-2)]))
  })

  test("importance sampling concentrates where g²/v is large: VP puts far more mass near 0 than uniform", () => {
    const q = importanceSampler(vp(), eps)
    // v(t) ≈ β₀·t near 0, so q ∝ 1/t there: P(t < 0.01) ≈ flat mass 0.054 + ln(10)/Z ≈ 0.2, against 1%.
    expect(evaluate(q.cdf, 0.01)).toBeGreaterThan(0.15)
  })
})
