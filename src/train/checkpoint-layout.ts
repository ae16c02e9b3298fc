/**
 * What a checkpoint file holds, by name: the format tag, the four tensor groups and the tensors a model's
 * parameters give, and the error of an inconsistent checkpoint. No file system: the browser reads
 * checkpoints with it too (`checkpoint-weights.ts`); `src/platform/train/checkpoint.ts` writes, loads and rotates files.
 */
import { Data } from "effect"
import type { ExpectedTensors } from "../io/safetensors-codec.ts"
import type { ParamSpec } from "../nn/module.ts"

/** The `format` metadata value; bumped when the layout changes incompatibly. */
export const checkpointFormat = "sdeflow-checkpoint/1"

/** Why a checkpoint could not be saved or loaded, beyond the safetensors layer's own errors. */
export type CheckpointReason = "metadata" | "config" | "state" | "not-json" | "checksum"

/** A checkpoint that is inconsistent or whose metadata fails its schema; `keys` names every bad key. */
export class CheckpointError extends Data.TaggedError("CheckpointError")<{
  readonly message: string
  readonly reason: CheckpointReason
  readonly path: string
  readonly keys: readonly string[]
}> {}

/** The name prefix of each tensor group in the file. */
export const checkpointGroups = { params: "params", ema: "ema", m: "adam.m", v: "adam.v" } as const

/** What a checkpoint of a model with parameters `spec` must contain: four F32 tensors per parameter. */
export const checkpointTensors = (spec: ParamSpec): ExpectedTensors =>
  Object.fromEntries(Object.values(checkpointGroups).flatMap((g) => Object.entries(spec).map(([name, shape]) => [`${g}/${name}`, { shape, dtype: "F32" as const }])))
