/**
 * `sdeflow train`: resolve the run configuration (preset < stored run or config file < flags, all through
 * `decodeConfig`), then stream `trainingRun`'s events as a progress display or as JSON lines.
 *
 * A run always continues from the newest checkpoint in `<out>/checkpoints` when one loads; `--resume`
 * additionally *requires* one. Ctrl-C / SIGTERM interrupt the stream; the loop's finalizer writes a
 * checkpoint before the device is released, and the runtime exits 130.
 */
import { Effect, Layer, Option, Stream } from "effect"
import { Command, Flag } from "effect/cli"
import { existsSync, readFileSync, statSync, writeSync } from "node:fs"
import { join } from "node:path"
import type { GpuError } from "../../runtime/errors.ts"
import { Gpu } from "../../runtime/gpu.ts"
import { decodeConfig, presets, type PresetName, type TrainConfig } from "../../train/config.ts"
import { latestCheckpoint } from "../train/checkpoint.ts"
import { progressPrinter } from "../train/progress.ts"
import { trainingRun } from "../train/run.ts"
import type { TrainEvent } from "../../train/events.ts"
import { BadFlags, blameFlags, givenFlags, laterChecked, numeric } from "./flags.ts"
import { NoCheckpoint, paramShapes, storedConfigJson } from "./run-folder.ts"
import { networkFor } from "../train/run.ts"
import { presetFor } from "../../train/preset-for.ts"

const presetNames = Object.keys(presets) as PresetName[]

/** Keys that fix the network and its data: a folder's checkpoints are useless to a run that changes them. */
const modelKeys = ["dataset", "sde", "model", "ch", "chMult", "numResBlocks", "attnResolutions", "hidden"] as const

const trainFlags = {
  preset: Flag.Literals("preset", presetNames).pipe(Flag.withDescription("Start from this preset (default: the run stored in --out, else cpu on a CPU adapter and gpu on a GPU)"), Flag.optional),
  steps: laterChecked("steps", "N", "Train until this many optimizer steps in total"),
  batch: laterChecked("batch", "N", "Batch size"),
  lr: laterChecked("lr", "X", "Peak learning rate (after warm-up)"),
  debias: Flag.Boolean("debias").pipe(Flag.withDescription("Importance-sample t ∝ g²/v (the paper's debiased DSM); --no-debias turns it off"), Flag.optional),
  seed: laterChecked("seed", "N", "Seed of initialisation, data order and noise"),
  out: Flag.String("out").pipe(Flag.withMetavar("DIR"), Flag.withDescription("Output folder (checkpoints/, metrics.jsonl, config.json, summary.json, curves.svg)"), Flag.optional),
  resume: Flag.Boolean("resume").pipe(Flag.withDescription("Fail unless --out already holds a loadable checkpoint"), Flag.withDefault(false)),
  json: Flag.Boolean("json").pipe(Flag.withDescription("Print one JSON event per line on stdout, nothing else"), Flag.withDefault(false)),
  config: Flag.String("config").pipe(Flag.withMetavar("FILE"), Flag.withDescription("JSON object of config keys (and optionally \"preset\"); flags override it"), Flag.optional),
}

/** The parsed values of `trainFlags`. */
export type TrainFlags = { readonly [K in keyof typeof trainFlags]: (typeof trainFlags)[K] extends Flag.Flag<infer A> ? A : never }

/** The keys of a `--config` file, its optional "preset" taken out. */
const readConfigFile = (path: string): Effect.Effect<{ preset?: string; keys: Record<string, unknown> }, BadFlags> =>
  Effect.try({
    try: () => {
      const parsed: unknown = JSON.parse(readFileSync(path, "utf8"))
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("expected a JSON object of config keys")
      const { preset, ...keys } = parsed as Record<string, unknown>
      if (preset !== undefined && typeof preset !== "string") throw new Error(`"preset" must be a string, got ${JSON.stringify(preset)}`)
      return preset === undefined ? { keys } : { preset, keys }
    },
    catch: (e) => new BadFlags({ message: `--config ${path}: ${(e as Error).message}`, flags: ["config"] }),
  })

/** The flags and the --config file before a preset is applied: the preset they name (if any) and every key they give. */
interface Given {
  readonly preset: string | undefined
  /** The --config file's keys, then the flags' (later winning); `out` only when one of them gives it. */
  readonly keys: Record<string, unknown>
  /** The given flags as text, for error messages. */
  readonly text: Record<string, string>
}

const givenOf = (flags: TrainFlags): Effect.Effect<Given, BadFlags> =>
  Effect.gen(function* () {
    const file = Option.isSome(flags.config) ? yield* readConfigFile(flags.config.value) : { keys: {} as Record<string, unknown> }
    const fromFlags = {
      steps: numeric(Option.getOrUndefined(flags.steps)),
      batch: numeric(Option.getOrUndefined(flags.batch)),
      lr: numeric(Option.getOrUndefined(flags.lr)),
      seed: numeric(Option.getOrUndefined(flags.seed)),
      debias: Option.getOrUndefined(flags.debias),
      out: Option.getOrUndefined(flags.out),
    }
    const definedFlags = Object.fromEntries(Object.entries(fromFlags).filter(([, v]) => v !== undefined))
    const text = givenFlags({ steps: flags.steps, batch: flags.batch, lr: flags.lr, seed: flags.seed, debias: flags.debias, out: flags.out })
    return { preset: Option.getOrUndefined(flags.preset) ?? file.preset, keys: { ...file.keys, ...definedFlags }, text }
  })

/** decodeConfig of `preset` under `keys`, its errors naming the flags (an unknown preset is a bad --preset). */
const decodeGiven = (preset: string, keys: Record<string, unknown>, text: Record<string, string>): Effect.Effect<TrainConfig, BadFlags> =>
  decodeConfig(preset as PresetName, keys).pipe(
    Effect.mapError((e) => (e.issues.length === 1 && e.issues[0] === "preset" ? new BadFlags({ message: e.message, flags: ["preset"] }) : blameFlags(e, text))),
  )

/** The run folder: --out, else the file's "out", else the preset's. */
const outOf = (given: Given, preset: string): string =>
  typeof given.keys.out === "string" ? given.keys.out : ((presets[preset as PresetName] as TrainConfig | undefined)?.out ?? presets.cpu.out)

/** A settled `train` invocation: its configuration, and whether it continues the run stored in its folder. */
export interface TrainRun {
  readonly config: TrainConfig
  /** No preset was named and `<out>/config.json` existed: the run continues with that run's settings. */
  readonly inherited: boolean
}

/**
 * The validated configuration of a `train` invocation. Layers, later winning: the preset (--preset, the
 * file's "preset", else `fallback` — what `presetFor` picks for the adapter); the run stored in the output
 * folder when neither --preset nor --config is given (so `train --out DIR --steps N` extends that run);
 * the --config file; the flags.
 */
export const resolveTrainRun = (flags: TrainFlags, fallback: PresetName = "cpu"): Effect.Effect<TrainRun, BadFlags | NoCheckpoint> =>
  Effect.gen(function* () {
    const given = yield* givenOf(flags)
    const preset = given.preset ?? fallback
    const out = outOf(given, preset)
    const stored = yield* storedConfigJson(out)
    const inherited = given.preset === undefined && Option.isNone(flags.config) ? stored : undefined
    const config = yield* decodeGiven(preset, { ...inherited, ...given.keys, out }, given.text)
    if (stored) yield* checkSameModel(config, stored)
    return { config, inherited: inherited !== undefined }
  })

/** `resolveTrainRun`'s configuration. */
export const resolveTrainConfig = (flags: TrainFlags, fallback: PresetName = "cpu"): Effect.Effect<TrainConfig, BadFlags | NoCheckpoint> =>
  Effect.map(resolveTrainRun(flags, fallback), (run) => run.config)

/**
 * Every flag and --config value checked without reading a run folder: what can be checked before the
 * device opens when no preset is named (the adapter picks it, and with it the default folder).
 */
const checkGiven = (given: Given): Effect.Effect<TrainConfig, BadFlags> => {
  const preset = given.preset ?? "cpu"
  return decodeGiven(preset, { ...given.keys, out: outOf(given, preset) }, given.text)
}

/** Refuses to train a different model into a folder whose checkpoints it would shadow and prune. */
const checkSameModel = (config: TrainConfig, stored: Record<string, unknown>): Effect.Effect<void, BadFlags> => {
  const differ = modelKeys.filter((k) => k in stored && JSON.stringify(stored[k]) !== JSON.stringify(config[k]))
  const hasCheckpoints = existsSync(join(config.out, "checkpoints"))
  if (differ.length === 0 || !hasCheckpoints) return Effect.void
  const detail = differ.map((k) => `${k}: ${JSON.stringify(stored[k])} there, ${JSON.stringify(config[k])} here`).join("; ")
  return Effect.fail(new BadFlags({ message: `${config.out} holds checkpoints of a different model (${detail}); choose another --out`, flags: ["out", ...differ] }))
}

/** With --resume: the checkpoint the loop will continue from, or NoCheckpoint naming what was skipped. */
const requireCheckpoint = (config: TrainConfig): Effect.Effect<string, NoCheckpoint> =>
  Effect.gen(function* () {
    const dir = join(config.out, "checkpoints")
    const latest = yield* latestCheckpoint(dir, paramShapes(networkFor(config))).pipe(Effect.mapError((e) => new NoCheckpoint({ out: config.out, message: e.message })))
    if (latest.found) return latest.found.path
    const skipped = latest.skipped.map((s) => `\n  skipped ${s.error.message}`).join("")
    return yield* new NoCheckpoint({ out: config.out, message: `--resume: no loadable checkpoint in ${dir}${skipped} (without --resume a fresh run starts there)` })
  })

/**
 * Where events go: JSON lines for machines, the progress printer for people. Written synchronously:
 * after SIGTERM the runtime exits as soon as the finalizers are done, and buffered pipe writes would be lost.
 */
const eventSink = (json: boolean): ((event: TrainEvent) => void) => {
  const write = (text: string) => void writeSync(1, text)
  return json ? (event) => write(JSON.stringify(event) + "\n") : progressPrinter({ write })
}

/**
 * Events the loop logged to metrics.jsonl (from byte `offset` on) beyond the first `shown`: on interruption
 * the stream's consumer stops before the producer's finalizer logs its final checkpoint, and the log has it.
 */
const loggedAfter = (path: string, offset: number, shown: number): TrainEvent[] => {
  if (!existsSync(path)) return []
  const text = readFileSync(path).subarray(offset).toString("utf8")
  const events = text.split("\n").filter((line) => line.trim() !== "").map((line) => {
    const { time: _time, ...event } = JSON.parse(line) as TrainEvent & { time?: string }
    return event as TrainEvent
  })
  return events.slice(shown)
}

/** The settled run, with --resume's requirement checked. */
const settle = (flags: TrainFlags, fallback?: PresetName): Effect.Effect<TrainRun, BadFlags | NoCheckpoint> =>
  Effect.gen(function* () {
    const run = yield* resolveTrainRun(flags, fallback)
    if (flags.resume) yield* requireCheckpoint(run.config)
    return run
  })

/**
 * The `train` subcommand; `gpu` is provided only after the flags have been validated. A named preset fixes
 * the run folder, so the folder is checked before the device opens too; without one the adapter picks the
 * preset (`presetFor`: cpu on CPU adapters, gpu on GPUs) and the folder is checked once it is known.
 */
export const trainCommand = (gpu: Layer.Layer<Gpu, GpuError>) =>
  Command.make("train", trainFlags, (flags) =>
    Effect.gen(function* () {
      const given = yield* givenOf(flags)
      const early = given.preset !== undefined ? yield* settle(flags) : yield* Effect.as(checkGiven(given), undefined)
      yield* Effect.gen(function* () {
        const handle = yield* Gpu
        const sink = eventSink(flags.json)
        // Everything for people goes to stderr in --json mode, so stdout stays one event per line.
        const note = (text: string) => void writeSync(flags.json ? 2 : 1, text + "\n")
        let run = early
        if (run === undefined) {
          const choice = presetFor(handle.adapter)
          run = yield* settle(flags, choice.preset)
          note(run.inherited ? `continuing the run stored in ${run.config.out} (no --preset given)` : `preset ${choice.preset}: ${choice.reason}`)
        }
        const config = run.config
        note(`device: ${handle.adapter.description}; dataset ${config.dataset}, ${config.sde} SDE, ${config.model}; output ${config.out}/`)
        let phase = ""
        const onData = (p: { readonly phase: string }) => {
          if (p.phase !== phase) process.stderr.write(`CIFAR-10: ${p.phase}…\n`)
          phase = p.phase
        }
        const log = join(config.out, "metrics.jsonl")
        const offset = existsSync(log) ? statSync(log).size : 0
        let shown = 0
        const show = (event: TrainEvent) => {
          // Compile progress is streamed, not logged: only logged events count toward what the log replays.
          if (event._tag !== "Compiling") shown++
          sink(event)
        }
        yield* Stream.runForEach(trainingRun(config, handle, onData), (event) => Effect.sync(() => show(event))).pipe(
          Effect.onInterrupt(() => Effect.sync(() => loggedAfter(log, offset, shown).forEach(sink))),
        )
      }).pipe(Effect.provide(gpu))
    }),
  ).pipe(Command.withDescription("Train a score-based diffusion model (resumes from <out>/checkpoints when present)"))
