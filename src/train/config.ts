/**
 * The run configuration: one Schema, presets, and a decoder whose errors list every bad key at once.
 * Flags, config files and examples all go through `decodeConfig`.
 */
import { Data, Effect, Schema } from "effect"
import { DEFAULT_END_TIME } from "../../dsl/reverse.ts"

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))
const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const Probability = Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 }))

export const TrainConfig = Schema.Struct({
  dataset: Schema.Literals(["cifar10", "swissroll", "moons", "8gaussians", "checkerboard"]),
  sde: Schema.Literals(["vp", "subvp", "ve"]),
  model: Schema.Literals(["unet", "mlp"]),
  /** UNet: base channels, multipliers, residual blocks per level, attention resolutions. */
  ch: PositiveInt,
  chMult: Schema.Array(PositiveInt),
  numResBlocks: PositiveInt,
  attnResolutions: Schema.Array(PositiveInt),
  /** MLP hidden widths. */
  hidden: Schema.Array(PositiveInt),
  steps: PositiveInt,
  batch: PositiveInt,
  lr: Schema.Finite.check(Schema.isGreaterThan(0)),
  warmup: NonNegativeInt,
  emaDecay: Probability,
  gradClip: Schema.Finite.check(Schema.isGreaterThan(0)),
  /** Importance-sampled t (the paper's "debias"). */
  debias: Schema.Boolean,
  /** Time cut-off ε. */
  eps: Schema.Finite.check(Schema.isBetween({ minimum: 1e-8, maximum: 0.5 })),
  evalEvery: NonNegativeInt,
  evalSamples: NonNegativeInt,
  sampleEvery: NonNegativeInt,
  sampleSteps: PositiveInt,
  sampleCount: PositiveInt,
  checkpointEvery: NonNegativeInt,
  keep: PositiveInt,
  seed: NonNegativeInt,
  out: Schema.String.check(Schema.isMinLength(1)),
})

export type TrainConfig = typeof TrainConfig.Type

/** Sized for a 2-core CPU running WebGPU through lavapipe: a small UNet, a few hundred steps. */
const cpu: TrainConfig = {
  dataset: "cifar10",
  sde: "vp",
  model: "unet",
  ch: 32,
  chMult: [1, 2],
  numResBlocks: 1,
  attnResolutions: [16],
  hidden: [128, 128, 128],
  steps: 300,
  batch: 4,
  lr: 5e-4,
  warmup: 20,
  emaDecay: 0.98,
  gradClip: 1,
  debias: false,
  eps: 1e-5,
  evalEvery: 150,
  evalSamples: 32,
  sampleEvery: 300,
  sampleSteps: 50,
  sampleCount: 8,
  checkpointEvery: 100,
  keep: 3,
  seed: 0,
  out: "runs/vp-cifar",
}

/**
 * The paper's UNet at half width, sized to finish in about 15 minutes on a mid-range GPU (~10 TFLOP/s
 * fp32; taken as 2 TFLOP/s effective through WebGPU) with samples visibly past noise. FLOPs from
 * `explain(programOf(…))` of the programs a run compiles (no device needed):
 *  - network: ch 64 with the paper's multipliers, blocks and attention (8.95M parameters, paper 35.7M);
 *    a training step costs 9.8 GFLOP per image (paper: 38.0), a forward pass 3.2, the ELBO 6.75.
 *  - training: batch 64 → 627 GFLOP a step (0.31 s at 2 TFLOP/s); 2000 steps → 1.25 PFLOP, ~10.5 min.
 *    Batch-dependent traffic is ~0.27 GB per image (17 GB a step, ~0.05 s at 360 GB/s): compute-bound.
 *  - evaluation every 500 steps on 640 test images: 4.3 TFLOP each, ~10 s in all.
 *  - a 64-image grid every 500 steps with 250 Euler–Maruyama steps: 51 TFLOP each, ~100 s in all.
 *  Total ≈ 1.48 PFLOP ≈ 12.5 min, plus compiling ~400 pipelines (training 234, evaluation 150, the
 *  sampler's; partly shared) and loading CIFAR-10.
 * Device memory: ~3 GB for the training program, ~1.3 GB for evaluation (fits an 8 GB card).
 * Short-run choices: warm-up 100 steps, EMA 0.995 (a ~200-step horizon, so the grid at step 500 is not
 * mostly the initialisation), lr 2e-4 (DDPM's CIFAR-10 rate).
 */
const gpu: TrainConfig = {
  ...cpu,
  ch: 64,
  chMult: [1, 2, 2, 2],
  numResBlocks: 2,
  attnResolutions: [16],
  steps: 2000,
  batch: 64,
  lr: 2e-4,
  warmup: 100,
  emaDecay: 0.995,
  evalEvery: 500,
  evalSamples: 640,
  sampleEvery: 500,
  sampleSteps: 250,
  sampleCount: 64,
  checkpointEvery: 500,
  out: "runs/vp-cifar-gpu",
}

/** sdeflow-light's CIFAR-10 configuration, for a real GPU. */
const paper: TrainConfig = {
  ...cpu,
  ch: 128,
  chMult: [1, 2, 2, 2],
  numResBlocks: 2,
  attnResolutions: [16],
  steps: 100_000,
  batch: 128,
  lr: 1e-4,
  warmup: 5000,
  emaDecay: 0.9999,
  evalEvery: 5000,
  evalSamples: 10_000,
  sampleEvery: 10_000,
  sampleSteps: 1000,
  sampleCount: 64,
  checkpointEvery: 2000,
  out: "runs/vp-cifar-paper",
}

/** The swiss roll of the paper's 2-D experiment. */
const swissroll: TrainConfig = {
  ...cpu,
  dataset: "swissroll",
  model: "mlp",
  steps: 2000,
  batch: 512,
  lr: 2e-3,
  warmup: 100,
  emaDecay: 0.995,
  debias: true,
  eps: DEFAULT_END_TIME,
  evalEvery: 0,
  sampleEvery: 1000,
  sampleSteps: 500,
  sampleCount: 2000,
  checkpointEvery: 500,
  out: "runs/swissroll",
}

export const presets = { cpu, gpu, paper, swissroll } as const
export type PresetName = keyof typeof presets

/** Bad configuration: `issues` has one line per bad key, each naming it. */
export class ConfigError extends Data.TaggedError("ConfigError")<{ readonly message: string; readonly issues: readonly string[] }> {}

/** A preset overridden by `overrides`, validated; every bad key is reported, not just the first. */
export const decodeConfig = (preset: PresetName, overrides: Readonly<Record<string, unknown>> = {}): Effect.Effect<TrainConfig, ConfigError> => {
  const base = presets[preset] as Record<string, unknown> | undefined
  if (!base) return Effect.fail(new ConfigError({ message: `unknown preset "${preset}" (choose ${Object.keys(presets).join(", ")})`, issues: ["preset"] }))
  const unknown = Object.keys(overrides).filter((k) => !(k in base))
  const input = { ...base, ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) }
  return Schema.decodeUnknownEffect(TrainConfig)(input, { errors: "all" }).pipe(
    Effect.mapError((e) => {
      const issues = [...unknown.map((k) => `unknown key "${k}"`), ...issueLines(String(e.message))]
      return new ConfigError({ message: `invalid configuration:\n  ${issues.join("\n  ")}`, issues })
    }),
    Effect.flatMap((config) =>
      unknown.length > 0 ? Effect.fail(new ConfigError({ message: `invalid configuration:\n  ${unknown.map((k) => `unknown key "${k}"`).join("\n  ")}`, issues: unknown })) : Effect.succeed(config),
    ),
  )
}

/** Schema's "Expected …\n  at ["key"]" pairs as one line per key: `steps: expected a value greater than 0`. */
const issueLines = (message: string): string[] => {
  const lines: string[] = []
  for (const raw of message.split("\n").map((l) => l.trim()).filter((l) => l.length > 0)) {
    const at = /^at ((?:\[[^\]]*\])+)$/.exec(raw)
    // ["chMult"][0] → chMult[0]
    const path = at?.[1]!.replace(/\["([^"]*)"\]/g, ".$1").replace(/^\./, "")
    if (path && lines.length > 0) lines[lines.length - 1] = `${path}: ${lines.at(-1)!.replace(/^Expected/, "expected")}`
    else lines.push(raw)
  }
  return lines
}
