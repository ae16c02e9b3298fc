/**
 * Denoising score matching with Gaussian data, where everything is known: for the score k·s (s exact),
 *   E‖std·k·s + z‖² = D − (2k − k²)·v·tr C⁻¹   (C = m²Σ₀ + v·I),
 * minimal at k = 1 — the irreducible loss ½(D − v·tr C⁻¹) — and the likelihood-weighted loss is the same
 * times g²/v. Expectations over t are 1-D quadratures; the estimates come from compiled `dsm` programs.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { compile } from "../../src/compile/compile.ts"
import { vp } from "../../dsl/library/index.ts"
import { importanceTime, uniformTime } from "../../dsl/importance.ts"
import { dsm, type DsmOptions } from "../../dsl/objectives.ts"
import { expectedDsmLoss, gaussianScore, integrate, meanAndError, sampleGaussian, type Gaussian2 } from "../support/gaussian.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const sde = vp()
const data: Gaussian2 = { mean: [1, -2], cov: [0.25, 0.1, 0.09] }
const n = 4000
const seeds = 10
const xs = sampleGaussian(data, n, 23)

/** Per-sample DSM losses pooled over seeds (CPU oracle, f64); same seeds for every call. */
const losses = async (scale: number, options: DsmOptions): Promise<Float64Array> => {
  const exe = await compile(({ x }) => dsm(sde, gaussianScore(sde, data, scale), x, options), { x: [n, 2] }, { backend: "cpu" })
  const out = new Float64Array(n * seeds)
  for (let seed = 0; seed < seeds; seed++) {
    exe.run({ x: xs }, { seed })
    out.set(await exe.read("out"), seed * n)
  }
  return out
}

const expectedLoss = (t: number, scale: number, weighting: "none" | "likelihood") => expectedDsmLoss(sde, data, t, scale, weighting)

describe("denoising score matching with the analytic score", () => {
  test("weighting 'none', uniform t: the estimate equals the irreducible loss E_t ½(D − v·tr C⁻¹)", async () => {
    const eps = 1e-5
    const irreducible = integrate((t) => expectedLoss(t, 1, "none"), eps, sde.T) / (sde.T - eps)
    const { mean, stderr } = meanAndError(await losses(1, { t: uniformTime(eps) }))
    expect(Math.abs(mean - irreducible), `loss ${mean} ± ${stderr}, irreducible ${irreducible}`).toBeLessThan(4 * stderr)
  })

  test("a perturbed score (0.8 ×) has a higher loss, by the predicted ½(1 − k)²·E_t[v·tr C⁻¹]", async () => {
    const exact = await losses(1, { t: uniformTime() })
    const perturbed = await losses(0.8, { t: uniformTime() })
    // Same seeds, so the paired difference is precise.
    const { mean: excess, stderr } = meanAndError(perturbed.map((v, i) => v - exact[i]!))
    const eps = 1e-5
    const predicted = integrate((t) => expectedLoss(t, 0.8, "none") - expectedLoss(t, 1, "none"), eps, sde.T) / (sde.T - eps)
    expect(excess).toBeGreaterThan(4 * stderr)
    expect(Math.abs(excess - predicted), `excess ${excess} ± ${stderr}, predicted ${predicted}`).toBeLessThan(4 * stderr)
  })

  test("weighting 'likelihood' is unbiased for ∫_ε^T under uniform and under importance-sampled t alike", async () => {
    const eps = 1e-2
    const target = integrate((t) => expectedLoss(t, 0.8, "likelihood"), eps, sde.T)
    const uniform = meanAndError(await losses(0.8, { t: uniformTime(eps), weighting: "likelihood" }))
    const importance = meanAndError(await losses(0.8, { t: importanceTime(eps), weighting: "likelihood" }))
    const label = `uniform ${uniform.mean} ± ${uniform.stderr}, importance ${importance.mean} ± ${importance.stderr}, exact ${target}`
    expect(Math.abs(uniform.mean - target), label).toBeLessThan(4 * uniform.stderr)
    expect(Math.abs(importance.mean - target), label).toBeLessThan(4 * importance.stderr)
    expect(Math.abs(uniform.mean - importance.mean), label).toBeLessThan(4 * Math.hypot(uniform.stderr, importance.stderr))
    // Importance sampling is the lower-variance estimator of the two: that is what it is for.
    expect(importance.variance).toBeLessThan(uniform.variance)
  })

  test("weighting 'likelihood' with importance-sampled t stays bounded: no sample from the flat part below ε", async () => {
    // The target g·z/std grows like t^(−1/2): a sample at t ≪ ε would weigh ~ε/t (before the fix: 13 800 against a mean of 14 at ε = 1e-3).
    const eps = 1e-3
    const values = await losses(1, { t: importanceTime(eps), weighting: "likelihood" })
    const { mean } = meanAndError(values)
    expect(Math.max(...values)).toBeLessThan(100 * mean)
  })
})
