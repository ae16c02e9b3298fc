/**
 * A training run's output folder as the CLI reads it back: `config.json` (decoded through the same Schema
 * as flags) and the newest loadable checkpoint in `checkpoints/`, turned into a `TrainedModel`. The
 * network and SDE are rebuilt from the config exactly as `trainingRun` builds them.
 */
import { Data, Effect } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import type { Tensor } from "../../ir/tensor.ts"
import type { Layer } from "../../nn/module.ts"
import { networkFor, sampleShapeFor, sdeFor } from "../train/run.ts"
import { decodeConfig, type ConfigError, type TrainConfig } from "../../train/config.ts"
import { latestCheckpoint } from "../train/checkpoint.ts"
import type { TrainedModel } from "../../train/sample.ts"

/** The folder holds no run, or no checkpoint that loads (exit code 3); `out` names the folder. */
export class NoCheckpoint extends Data.TaggedError("NoCheckpoint")<{ readonly message: string; readonly out: string }> {}

/** The network `trainingRun` trains for `config` (a UNet for CIFAR-10, an MLP for 2-D toy data). */
/** Parameter shapes by name, as checkpoints are validated against. */
export const paramShapes = (network: Layer<[Tensor, Tensor]>): Record<string, readonly number[]> =>
  Object.fromEntries(Object.entries(network.params).map(([name, d]) => [name, d.shape]))

/** The stored `config.json` of the run in `out`, undefined when there is none. */
export const storedConfigJson = (out: string): Effect.Effect<Record<string, unknown> | undefined, NoCheckpoint> =>
  Effect.suspend(() => {
    const path = join(out, "config.json")
    if (!existsSync(path)) return Effect.succeed(undefined)
    try {
      const parsed: unknown = JSON.parse(readFileSync(path, "utf8"))
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not a JSON object")
      return Effect.succeed(parsed as Record<string, unknown>)
    } catch (cause) {
      return Effect.fail(new NoCheckpoint({ out, message: `${path} is unreadable (${(cause as Error).message}): is ${out} a training run?` }))
    }
  })

/** The run config stored in `out`, validated like flags (its `out` replaced by the folder it was read from). */
export const readRunConfig = (out: string): Effect.Effect<TrainConfig, ConfigError | NoCheckpoint> =>
  Effect.gen(function* () {
    const stored = yield* storedConfigJson(out)
    if (!stored) return yield* new NoCheckpoint({ out, message: `${out} holds no training run (no config.json); train one with \`sdeflow train --out ${out}\`` })
    return yield* decodeConfig("cpu", { ...stored, out })
  })

/** A trained model restored from a run folder, and where its weights came from. */
export interface RestoredRun {
  readonly config: TrainConfig
  readonly model: TrainedModel
  /** Training steps the weights have seen, and the checkpoint file. */
  readonly step: number
  readonly checkpoint: string
}

/** The newest loadable checkpoint of the run in `out`, with its EMA weights (or the raw ones). */
export const restoreRun = (out: string, weights: "ema" | "params" = "ema"): Effect.Effect<RestoredRun, ConfigError | NoCheckpoint> =>
  Effect.gen(function* () {
    const config = yield* readRunConfig(out)
    const network = networkFor(config)
    const dir = join(out, "checkpoints")
    const latest = yield* latestCheckpoint(dir, paramShapes(network)).pipe(Effect.mapError((e) => new NoCheckpoint({ out, message: e.message })))
    if (!latest.found) {
      const skipped = latest.skipped.map((s) => `\n  skipped ${s.error.message}`).join("")
      return yield* new NoCheckpoint({ out, message: `no loadable checkpoint in ${dir}${skipped}` })
    }
    const { checkpoint, path } = latest.found
    const chosen = weights === "ema" ? checkpoint.ema : checkpoint.params
    return {
      config,
      model: {
        sde: sdeFor(config),
        network,
        parameterisation: "a",
        weights: Object.fromEntries(Object.entries(chosen).map(([name, t]) => [name, t.data])),
        sampleShape: sampleShapeFor(config),
      },
      step: checkpoint.step,
      checkpoint: path,
    }
  })
