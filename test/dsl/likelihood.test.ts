import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { compile } from "../../src/compile/compile.ts"
import { vp } from "../../dsl/library/index.ts"
import { importanceTime, uniformTime, type TimeSampling } from "../../dsl/importance.ts"
import { probabilityFlowLikelihood } from "../../dsl/likelihood.ts"
import { elbo } from "../../dsl/objectives.ts"
import { useGpu } from "../support/backends.ts"
import {
  expectedElbo, flowLogLikelihood, gaussianScore, logDensity, marginalAt, meanAndError, sampleGaussian, type Gaussian2,
} from "../support/gaussian.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const gpu = useGpu()
const sde = vp()
const data: Gaussian2 = { mean: [1, -2], cov: [0.25, 0.1, 0.09] }
const n = 4000
const xs = sampleGaussian(data, n, 11)
const exactLogLikelihood = meanAndError(logDensity(data, xs)).mean
const mean = (values: ArrayLike<number>) => meanAndError(values).mean

/** Per-sample ELBO estimates pooled over `seeds` runs of one compiled program (CPU oracle, f64). */
const elboSamples = async (scale: number, sampling: TimeSampling, seeds: number): Promise<number[]> => {
  const exe = await compile(({ x }) => elbo(sde, gaussianScore(sde, data, scale), x, { t: sampling }), { x: [n, 2] }, { backend: "cpu" })
  const all: number[] = []
  for (let seed = 0; seed < seeds; seed++) {
    exe.run({ x: xs }, { seed })
    all.push(...(await exe.read("out")))
  }
  return all
}

/** The closed-form expectation of those estimates, averaged over the same data points. */
const elboOracle = (scale: number, from: number): number => {
  const at = expectedElbo(sde, data, from, scale)
  let total = 0
  for (let i = 0; i < n; i++) total += at([xs[2 * i]!, xs[2 * i + 1]!])
  return total / n
}

describe("continuous-time ELBO of the plug-in reverse SDE (2-D correlated Gaussian data)", () => {
  // With the exact score the plug-in reverse SDE's path measure is the forward one, so the bound is
  // tight up to the ε-truncation and the prior mismatch (both < 1e-3 here). Measured (N = 4000 × 30
  // seeds, f64): exact −0.6403, closed-form E[ELBO] −0.6404, estimate −0.6434 ± 0.0391.
  test("exact score: E[ELBO] equals the exact log-likelihood; the estimate sits within MC error of it", async () => {
    const oracle = elboOracle(1, 1e-5)
    expect(Math.abs(oracle - exactLogLikelihood)).toBeLessThan(1e-3)
    const { mean: estimate, stderr } = meanAndError(await elboSamples(1, uniformTime(1e-5), 30))
    expect(Math.abs(estimate - oracle), `ELBO ${estimate} ± ${stderr}, exact ${exactLogLikelihood}`).toBeLessThan(4 * stderr)
    expect(estimate).toBeLessThan(exactLogLikelihood + 4 * stderr)
    expect(stderr).toBeLessThan(0.05)
  })

  // Measured: predicted −1.1324; estimate −1.1365 ± 0.0263 (uniform t), −1.1470 ± 0.0301 (importance).
  test("a wrong score (0.8 × exact) gives a strictly lower bound, by the predicted gap", async () => {
    const oracle = elboOracle(0.8, 1e-5)
    expect(exactLogLikelihood - oracle).toBeGreaterThan(0.3)
    const { mean: estimate, stderr } = meanAndError(await elboSamples(0.8, uniformTime(1e-5), 30))
    expect(Math.abs(estimate - oracle), `ELBO ${estimate} ± ${stderr}, predicted ${oracle}`).toBeLessThan(4 * stderr)
    expect(estimate).toBeLessThan(exactLogLikelihood - 4 * stderr)
  })

  test("importance-sampled t (q ∝ g²/v, ε = 1e-3) estimates the same bound", async () => {
    const oracle = elboOracle(0.8, 0) // the flat part of q covers [0, ε]
    const { mean: estimate, stderr } = meanAndError(await elboSamples(0.8, importanceTime(1e-3), 30))
    expect(Math.abs(estimate - oracle), `ELBO ${estimate} ± ${stderr}, predicted ${oracle}`).toBeLessThan(4 * stderr)
  })
})

describe("probability-flow ODE likelihood (RK4 on the augmented state)", () => {
  // Oracle: log N(Φ(x); prior) + log|det Φ| with Φ the exact (linear) flow map from ε to T.
  const eps = 1e-5
  const few = 1000
  const points = xs.subarray(0, 2 * few)
  const model = gaussianScore(sde, data)
  const oracle = flowLogLikelihood(sde, data, eps, points)

  test("exact divergence: every per-sample log-likelihood matches the exact one; the mean matches log p_ε", async () => {
    const ll = await probabilityFlowLikelihood(sde, model, points, { backend: "cpu", shape: [few, 2], steps: 100, eps })
    let worst = 0
    ll.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - oracle[i]!))))
    expect(worst).toBeLessThan(1e-4) // measured 6e-6: RK4's error at 100 steps
    // The model's prior N(0, 1) differs from the true p_T only by m(T)·μ₀ ≈ 0.01: the average is log p_ε.
    expect(Math.abs(mean(ll) - mean(logDensity(marginalAt(sde, data, eps), points)))).toBeLessThan(2e-3)
  })

  test("RK4 converges at fourth order in the log-likelihood", async () => {
    const errorAt = async (steps: number) => {
      const ll = await probabilityFlowLikelihood(sde, model, points.subarray(0, 400), { backend: "cpu", shape: [200, 2], steps, eps })
      return Math.max(...Array.from(ll, (v, i) => Math.abs(v - oracle[i]!)))
    }
    const ratio = (await errorAt(25)) / (await errorAt(50))
    expect(ratio).toBeGreaterThan(12)
    expect(ratio).toBeLessThan(20)
  })

  test("Hutchinson divergence (one fixed probe per trajectory) is unbiased: averaged over seeds it matches", async () => {
    const differences: number[] = []
    for (let seed = 0; seed < 8; seed++) {
      const ll = await probabilityFlowLikelihood(sde, model, points, { backend: "cpu", shape: [few, 2], steps: 50, eps, divergence: "hutchinson", seed })
      ll.forEach((v, i) => differences.push(v - oracle[i]!))
    }
    const { mean: bias, stderr } = meanAndError(differences)
    expect(Math.abs(bias), `bias ${bias} ± ${stderr}`).toBeLessThan(4 * stderr)
    // Not trivially unbiased: a single probe's per-sample error is large.
    expect(Math.max(...differences.map(Math.abs))).toBeGreaterThan(0.1)
  })

  test("several Hutchinson probes average independent estimates: squared error falls about as 1/probes", async () => {
    const sample = points.subarray(0, 400)
    const squaredError = async (probes: number) => {
      const ll = await probabilityFlowLikelihood(sde, model, sample, { backend: "cpu", shape: [200, 2], steps: 25, eps, divergence: "hutchinson", seed: 3, probes })
      return mean(Array.from(ll, (v, i) => (v - oracle[i]!) ** 2))
    }
    const [one, eight] = [await squaredError(1), await squaredError(8)]
    // 1/8 in expectation; over 200 samples the ratio lies well inside (1/16, 1/4).
    expect(eight / one).toBeGreaterThan(1 / 16)
    expect(eight / one).toBeLessThan(1 / 4)
  })

  test("on WebGPU (float32) the exact-divergence likelihood agrees with the oracle to 1e-3", async () => {
    const ll = await probabilityFlowLikelihood(sde, model, points.subarray(0, 512), { backend: gpu(), shape: [256, 2], steps: 50, eps })
    let worst = 0
    ll.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - oracle[i]!))))
    expect(worst).toBeLessThan(1e-3)
  })
})
