/**
 * `sdeflow eval`: the likelihood of a trained run's newest checkpoint (EMA weights). CIFAR-10 runs report
 * test bits/dim on the first N test images; toy runs the log-likelihood in nats per point on N fresh draws.
 * Always the ELBO (a bound); with --ode also the probability-flow ODE likelihood.
 */
import { Data, Effect, Layer, Option, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import type { GpuError } from "../../runtime/errors.ts"
import { Gpu } from "../../runtime/gpu.ts"
import { loadCifar10 } from "../cifar/cifar10.ts"
import type { ToyDataset } from "../../data/toy.ts"
import { elboEstimate, flowEstimate, type EvalData, type Estimate } from "../../train/evaluate.ts"
import { decodeFlags, givenFlags, laterChecked, numeric } from "./flags.ts"
import { restoreRun } from "./run-folder.ts"

/** Evaluation failed after the run was loaded (data, compile or device work); `cause` has the original. */
export class EvalFailed extends Data.TaggedError("EvalFailed")<{ readonly message: string; readonly cause?: unknown }> {}

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))
const EvalSettings = Schema.Struct({
  samples: Schema.optional(PositiveInt),
  odeSteps: PositiveInt,
  seed: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
})

const evalFlags = {
  out: Flag.String("out").pipe(Flag.withMetavar("DIR"), Flag.withDescription("The run folder (config.json and checkpoints/)")),
  samples: laterChecked("samples", "N", "Data points: the first N test images, or N fresh toy draws (default: the run's evalSamples, toy 2000)"),
  ode: Flag.Boolean("ode").pipe(Flag.withDescription("Also the probability-flow ODE likelihood (RK4; Hutchinson divergence for images, exact for 2-D)"), Flag.withDefault(false)),
  odeSteps: laterChecked("ode-steps", "N", "RK4 steps of the ODE from ε to T (default 100)"),
  seed: laterChecked("seed", "N", "Seed of the evaluation noise and toy draws (default 1)"),
  json: Flag.Boolean("json").pipe(Flag.withDescription("Print only a JSON object on stdout"), Flag.withDefault(false)),
}

/** "ELBO: 3.2100 ± 0.0100 bits/dim (…)": the mean ± its standard error. */
const describe = (label: string, e: Estimate, what: string): string =>
  `${label}: ${e.mean.toFixed(4)} ± ${e.stderr.toFixed(4)} ${e.unit === "bits/dim" ? "bits/dim" : "nats per point"} (${what})`

/** The `eval` subcommand; `gpu` is provided only after the flags and the run folder have been read. */
export const evalCommand = (gpu: Layer.Layer<Gpu, GpuError>) =>
  Command.make("eval", evalFlags, (flags) =>
    Effect.gen(function* () {
      const given = givenFlags({ samples: flags.samples, "ode-steps": flags.odeSteps, seed: flags.seed })
      const settings = yield* decodeFlags(
        EvalSettings,
        { samples: numeric(Option.getOrUndefined(flags.samples)), odeSteps: numeric(Option.getOrElse(flags.odeSteps, () => "100")), seed: numeric(Option.getOrElse(flags.seed, () => "1")) },
        given,
      )
      const run = yield* restoreRun(flags.out)
      const { config, model } = run
      const toy = config.dataset !== "cifar10"
      const samples = settings.samples ?? (toy ? 2000 : Math.max(config.evalSamples, 1))
      const fail = (what: string) => (cause: unknown) => new EvalFailed({ message: `${what} failed: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
      const data: EvalData = toy
        ? { kind: "toy", dataset: config.dataset as ToyDataset }
        : { kind: "images", images: (yield* loadCifar10({ split: "test" }).pipe(Effect.mapError(fail("loading the CIFAR-10 test set")))).images }
      const started = performance.now()
      const result = yield* Effect.gen(function* () {
        const backend = yield* Gpu
        const options = { backend, samples, batch: Math.min(samples, config.batch), eps: config.eps, seed: settings.seed }
        const elbo = yield* Effect.tryPromise({ try: () => elboEstimate(model, data, options), catch: fail("the ELBO") })
        const ode = flags.ode ? yield* Effect.tryPromise({ try: () => flowEstimate(model, data, { ...options, steps: settings.odeSteps }), catch: fail("the probability-flow likelihood") }) : undefined
        return { elbo, ode }
      }).pipe(Effect.provide(gpu))
      const seconds = (performance.now() - started) / 1000
      const divergence = toy ? "exact" : "hutchinson"
      if (flags.json) {
        const report = { out: flags.out, checkpoint: run.checkpoint, step: run.step, weights: "ema", dataset: config.dataset, elbo: result.elbo, ...(result.ode ? { ode: { ...result.ode, steps: settings.odeSteps, divergence } } : {}), seconds }
        process.stdout.write(JSON.stringify(report) + "\n")
        return
      }
      const what = toy ? `${samples} fresh ${config.dataset} points` : `${samples} CIFAR-10 test images`
      console.log(`run ${flags.out}: step ${run.step} (${run.checkpoint}), EMA weights`)
      console.log(describe(toy ? "ELBO (a lower bound on log p)" : "ELBO (an upper bound on bits/dim)", result.elbo, what))
      if (result.ode) console.log(describe("probability-flow ODE", result.ode, `${what}; RK4 ${settings.odeSteps} steps, ${divergence} divergence`))
      console.log(`(${seconds.toFixed(1)} s)`)
    }),
  ).pipe(Command.withDescription("Likelihood of a trained run: test bits/dim (images) or nats (toy data) via the ELBO, --ode for the exact ODE likelihood"))
