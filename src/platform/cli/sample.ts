/**
 * `sdeflow sample`: draw samples from a trained run's newest checkpoint (EMA weights) with any solver and
 * λ, and write them as a PNG — an image grid for CIFAR-10, a scatter over grey reference data for toy
 * runs (which also report the energy distance between samples and fresh data).
 */
import { Data, Effect, Layer, Option, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { join } from "node:path"
import { compile } from "../../index.ts"
import type { GpuError } from "../../runtime/errors.ts"
import { Gpu } from "../../runtime/gpu.ts"
import { writeFileAtomic } from "../files/atomic.ts"
import { energyDistance } from "../../data/energy-distance.ts"
import { toySample, type ToyDataset } from "../../data/toy.ts"
import { defaultLambda, generate, odeSolverNames, samplesPng, solverNames } from "../../train/sample.ts"
import { BadFlags, decodeFlags, givenFlags, laterChecked, numeric } from "./flags.ts"
import { restoreRun } from "./run-folder.ts"

/** Sampling failed after the run was loaded (compile, device, or writing the PNG). */
export class SampleFailed extends Data.TaggedError("SampleFailed")<{ readonly message: string; readonly cause?: unknown }> {}

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))
const SampleSettings = Schema.Struct({
  count: Schema.optional(PositiveInt),
  steps: Schema.optional(PositiveInt),
  lambda: Schema.optional(Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 }))),
  seed: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
})

const sampleFlags = {
  out: Flag.String("out").pipe(Flag.withMetavar("DIR"), Flag.withDescription("The run folder (config.json and checkpoints/)")),
  count: laterChecked("count", "N", "Number of samples (default: the run's sampleCount)"),
  steps: laterChecked("steps", "N", "Solver steps from T to ε (default: the run's sampleSteps; the adaptive solver's first guess)"),
  solver: Flag.Literals("solver", solverNames).pipe(
    Flag.withDescription("em: Euler–Maruyama, pc: predictor–corrector, sra1: Rößler SRA1, heun/rk4/adaptive: probability-flow ODE (λ = 1)"),
    Flag.withDefault("em"),
  ),
  lambda: laterChecked("lambda", "X", "λ ∈ [0, 1] of the plug-in reverse SDE: 0 reverse SDE, 1 probability-flow ODE (default 0; 1 for ODE solvers)"),
  png: Flag.String("png").pipe(Flag.withMetavar("FILE"), Flag.withDescription("Where to write the PNG (default <out>/sample-<solver>-<step>.png)"), Flag.optional),
  seed: laterChecked("seed", "N", "Seed of the prior draw and the solver noise (default 0)"),
  json: Flag.Boolean("json").pipe(Flag.withDescription("Print only a JSON object on stdout"), Flag.withDefault(false)),
}

/** The `sample` subcommand; `gpu` is provided only after the flags and the run folder have been read. */
export const sampleCommand = (gpu: Layer.Layer<Gpu, GpuError>) =>
  Command.make("sample", sampleFlags, (flags) =>
    Effect.gen(function* () {
      const given = givenFlags({ count: flags.count, steps: flags.steps, lambda: flags.lambda, seed: flags.seed })
      const settings = yield* decodeFlags(
        SampleSettings,
        {
          count: numeric(Option.getOrUndefined(flags.count)),
          steps: numeric(Option.getOrUndefined(flags.steps)),
          lambda: numeric(Option.getOrUndefined(flags.lambda)),
          seed: numeric(Option.getOrElse(flags.seed, () => "0")),
        },
        given,
      )
      const lambda = settings.lambda ?? defaultLambda(flags.solver)
      if (odeSolverNames.has(flags.solver) && lambda !== 1)
        return yield* new BadFlags({ message: `invalid flags:\n  --solver ${flags.solver} integrates the probability-flow ODE only; --lambda ${lambda} needs em, pc or sra1`, flags: ["solver", "lambda"] })
      const run = yield* restoreRun(flags.out)
      const { config, model } = run
      const count = settings.count ?? config.sampleCount
      const steps = settings.steps ?? config.sampleSteps
      const png = Option.getOrElse(flags.png, () => join(flags.out, `sample-${flags.solver}-${String(run.step).padStart(6, "0")}.png`))
      const toy = config.dataset !== "cifar10"
      const fail = (what: string) => (cause: unknown) => new SampleFailed({ message: `${what} failed: ${cause instanceof Error ? cause.message : String(cause)}`, cause })

      const started = performance.now()
      const { samples, reference, solverSteps } = yield* Effect.gen(function* () {
        const backend = yield* Gpu
        const solution = yield* Effect.tryPromise({
          try: () => generate(model, { backend, count, steps, solver: flags.solver, lambda, seed: settings.seed, eps: config.eps }),
          catch: fail(`sampling with ${flags.solver}`),
        })
        // Fresh data for the picture and the energy distance, from a seed apart from the samples'.
        const reference = toy
          ? yield* Effect.tryPromise({
              try: async () => {
                const draw = await compile(() => toySample(config.dataset as ToyDataset, count), {}, { backend })
                draw.run({}, { seed: settings.seed + 1_000_003 })
                return draw.read("out")
              },
              catch: fail("drawing reference data"),
            })
          : undefined
        return { samples: solution.x, reference, solverSteps: solution.steps }
      }).pipe(Effect.provide(gpu))
      const seconds = (performance.now() - started) / 1000
      yield* writeFileAtomic(png, samplesPng(model.sampleShape, samples, count, reference)).pipe(Effect.mapError(fail(`writing ${png}`)))
      const distance = reference ? energyDistance(reference, samples, 2) : undefined
      const finite = Array.from(samples).filter(Number.isFinite).length / samples.length

      if (flags.json) {
        const report = { png, out: flags.out, checkpoint: run.checkpoint, step: run.step, count, solver: flags.solver, lambda, steps: solverSteps, seed: settings.seed, finiteFraction: finite, ...(distance !== undefined ? { energyDistance: distance } : {}), seconds }
        process.stdout.write(JSON.stringify(report) + "\n")
        return
      }
      console.log(`${count} samples from step ${run.step} (${run.checkpoint}), ${flags.solver} λ = ${lambda}, ${solverSteps} steps in ${seconds.toFixed(1)} s`)
      if (distance !== undefined) console.log(`energy distance to fresh ${config.dataset} data: ${distance.toFixed(4)}`)
      if (finite < 1) console.log(`warning: ${((1 - finite) * 100).toFixed(2)}% of sample values are not finite`)
      console.log(png)
    }),
  ).pipe(Command.withDescription("Draw samples from a trained run and write them as a PNG (grid or scatter)"))
