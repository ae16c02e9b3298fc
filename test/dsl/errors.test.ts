import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { compile } from "../../src/compile/compile.ts"
import { subvp, ve, vp } from "../../dsl/library/index.ts"
import { InvalidOption } from "../../dsl/errors.ts"
import { importanceSampler, importanceTime, sampleTimes, uniformTime } from "../../dsl/importance.ts"
import { probabilityFlowLikelihood } from "../../dsl/likelihood.ts"
import { dsm, elbo } from "../../dsl/objectives.ts"
import { pluginReverse, probabilityFlow } from "../../dsl/reverse.ts"
import { linearSde } from "../../dsl/sde.ts"
import { solve } from "../../dsl/solve.ts"
import { adaptive, eulerMaruyama, heun, predictorCorrector, rk4 } from "../../dsl/solvers.ts"
import { constant, InvalidHorizon, NonFiniteConstant, NotIntegrable, t } from "../../dsl/time/index.ts"
import { gaussianScore } from "../support/gaussian.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const sde = vp()
// Not unit-variance data: for N(0, I) the VP probability-flow drift vanishes and any ODE solve is exact.
const model = gaussianScore(sde, { mean: [1, -2], cov: [0.25, 0.1, 0.09] })

/** The error `run` throws (synchronously or as a rejection). */
const caught = async (run: () => unknown): Promise<unknown> => {
  try {
    await run()
  } catch (error) {
    return error
  }
  throw new Error("expected an error, but the call succeeded")
}

/** Expects an InvalidOption naming `option` and mentioning `fragment` in its message. */
const expectInvalid = async (run: () => unknown, option: string, fragment: string) => {
  const error = await caught(run)
  expect(error).toBeInstanceOf(InvalidOption)
  expect((error as InvalidOption).option).toBe(option)
  expect((error as InvalidOption).message).toContain(fragment)
}

describe("misuse of the SDE DSL fails with typed errors that name the problem", () => {
  test.each([1.5, -0.1, Number.NaN])("λ = %p outside [0, 1] → InvalidOption 'lambda'", async (lambda) => {
    await expectInvalid(() => pluginReverse(sde, model, { lambda }), "lambda", "[0, 1]")
  })

  test.each([
    ["Heun", heun()],
    ["RK4", rk4()],
    ["adaptive", adaptive()],
  ] as const)("an ODE solver (%s) on a stochastic process (λ = 0.5) → InvalidOption 'solver'", async (_, solver) => {
    const reverse = pluginReverse(sde, model, { lambda: 0.5 })
    await expectInvalid(() => solve(reverse, solver, { backend: "cpu", shape: [4, 2], steps: 10 }), "solver", "λ = 0.5")
  })

  test.each([0, -3, 2.5])("steps = %p → InvalidOption 'steps' (solve and the likelihood)", async (steps) => {
    await expectInvalid(() => solve(pluginReverse(sde, model), eulerMaruyama(), { backend: "cpu", shape: [4, 2], steps }), "steps", String(steps))
    await expectInvalid(
      () => probabilityFlowLikelihood(sde, model, new Float32Array(8), { backend: "cpu", shape: [4, 2], steps }),
      "steps",
      String(steps),
    )
  })

  test("ε ≥ T → InvalidOption 'eps' in time sampling, the objectives and the likelihood; InvalidHorizon in the sampler", async () => {
    for (const eps of [1, 2]) {
      await expectInvalid(() => sampleTimes(sde, uniformTime(eps), 4), "eps", "T = 1")
      await expectInvalid(() => sampleTimes(sde, importanceTime(eps), 4), "eps", "T = 1")
      await expectInvalid(() => compile(({ x }) => dsm(sde, model, x, { t: uniformTime(eps) }), { x: [4, 2] }, { backend: "cpu" }), "eps", String(eps))
      await expectInvalid(() => compile(({ x }) => elbo(sde, model, x, { t: importanceTime(eps) }), { x: [4, 2] }, { backend: "cpu" }), "eps", String(eps))
      await expectInvalid(() => probabilityFlowLikelihood(sde, model, new Float32Array(8), { backend: "cpu", shape: [4, 2], eps }), "eps", String(eps))
      expect(() => importanceSampler(sde, eps)).toThrow(InvalidHorizon)
    }
  })

  test.each([0, -1, Number.POSITIVE_INFINITY, Number.NaN])("T = %p → InvalidOption 'T'", async (T) => {
    await expectInvalid(() => linearSde({ f: -1, g: 1, T }), "T", "horizon")
    for (const library of [vp, subvp, ve]) await expectInvalid(() => library({ T }), "T", "horizon")
  })

  test("non-finite constants in time expressions → NonFiniteConstant naming the value", () => {
    for (const build of [() => constant(Number.NaN), () => t.mul(Number.POSITIVE_INFINITY), () => linearSde({ f: Number.NaN, g: 1 }), () => vp({ betaMax: Infinity })]) {
      const error = (() => {
        try {
          build()
        } catch (e) {
          return e
        }
      })()
      expect(error).toBeInstanceOf(NonFiniteConstant)
      expect((error as NonFiniteConstant).message).toMatch(/NaN|Infinity/)
    }
  })

  test("an SDE without closed-form marginals and quadrature switched off → NotIntegrable naming the integrand", () => {
    const build = () => linearSde({ f: -1, g: constant(1).add(t.sin()), quadrature: false })
    expect(build).toThrow(NotIntegrable)
    expect(build).toThrow(/sin/)
    // The same SDE is fine with quadrature on (the default).
    expect(linearSde({ f: -1, g: constant(1).add(t.sin()) }).marginals.method.variance).toBe("quadrature")
  })

  test("solver options outside their domain → InvalidOption naming the solver", async () => {
    const run = (solver: Parameters<typeof solve>[1], reverse = pluginReverse(sde, model)) => () =>
      solve(reverse, solver, { backend: "cpu", shape: [4, 2], steps: 4 })
    await expectInvalid(run(predictorCorrector({ snr: 0 })), "predictor-corrector", "snr > 0")
    await expectInvalid(run(predictorCorrector({ correctorSteps: 1.5 })), "predictor-corrector", "corrector")
    await expectInvalid(run(adaptive({ rtol: 0 }), probabilityFlow(sde, model)), "adaptive", "rtol > 0")
  })

  test("an adaptive solve that runs out of attempts → InvalidOption 'maxSteps' naming where it stopped", async () => {
    const reverse = probabilityFlow(sde, model)
    await expectInvalid(
      () => solve(reverse, adaptive({ rtol: 1e-9, atol: 1e-9 }), { backend: "cpu", shape: [4, 2], steps: 2, maxSteps: 5 }),
      "maxSteps",
      "stopped at t",
    )
  })

  test("Hutchinson with a non-positive number of probes → InvalidOption 'probes'", async () => {
    await expectInvalid(() => compile(({ x }) => elbo(sde, model, x, { probes: 0 }), { x: [4, 2] }, { backend: "cpu" }), "probes", "0")
  })
})

describe("plain-JavaScript misuse is caught at run time, naming the key and the value", () => {
  // Each call bypasses the types as a .js caller would.
  const loose = <T>(value: unknown) => value as T

  test('backend: "CPU" (not "cpu", not a GPU handle)', () =>
    expectInvalid(() => compile(({ x }) => x.exp(), { x: [2] }, { backend: loose("CPU") }), "backend", '"CPU"'))

  test("a model without a or score: { scores }", () =>
    expectInvalid(() => pluginReverse(sde, loose({ scores: () => undefined })), "model", "{ scores }"))

  test("a misspelt option is named with the nearest known one", async () => {
    await expectInvalid(() => pluginReverse(sde, model, loose({ lamda: 0.5 })), "pluginReverse.lamda", 'did you mean "lambda"')
    await expectInvalid(() => solve(probabilityFlow(sde, model), rk4(), loose({ backend: "cpu", shape: [4, 2], steps: 2, seeed: 1 })), "solve.seeed", 'did you mean "seed"')
    await expectInvalid(() => compile(({ x }) => x.exp(), { x: [2] }, loose({ backend: "cpu", fuze: false })), "compile.fuze", 'did you mean "fuse"')
  })

  test("λ = NaN is shown as NaN, not null", () => expectInvalid(() => pluginReverse(sde, model, { lambda: NaN }), "lambda", "lambda = NaN"))

  test("a model of the wrong shape inside a solver step is reported at the user's line, not inside dsl/", async () => {
    const wrong = pluginReverse(sde, { score: (x) => x.reshape([x.size]) })
    const error = (await caught(() => solve(wrong, eulerMaruyama(), { backend: "cpu", shape: [8, 2], steps: 2 }))) as { message: string; site: string }
    expect(error.site).toContain("test/dsl/errors.test.ts")
    expect(error.message).not.toContain("dsl/solvers.ts")
  })
})
