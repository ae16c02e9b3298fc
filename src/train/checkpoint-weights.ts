/**
 * A checkpoint's weights from its bytes, with no file system (a browser's fetched or chosen file): the tensors
 * a model expects, checked by name, shape, dtype and finiteness, and the run's config. The per-tensor
 * checksums are `loadCheckpoint`'s job (it reads files and hashes with node:crypto).
 */
import { checkSafetensorsSync, decodeSafetensorsSync } from "../io/safetensors-codec.ts"
import type { ParamSpec } from "../nn/module.ts"
import { CheckpointError, checkpointFormat, checkpointGroups, checkpointTensors } from "./checkpoint-layout.ts"

export interface CheckpointWeights {
  readonly step: number
  /** The run's configuration, as `sdeflow train` stored it (any JSON). */
  readonly config: unknown
  readonly params: Record<string, Float32Array>
  readonly ema: Record<string, Float32Array>
}

const json = (name: string, key: string, text: string | undefined): unknown => {
  try {
    return JSON.parse(text ?? "")
  } catch {
    throw new CheckpointError({ path: name, reason: "metadata", keys: [key], message: `${name}: metadata "${key}" is missing or not JSON` })
  }
}

/** The config stored in a checkpoint (to know which network it belongs to before checking its tensors). */
export const checkpointConfig = (bytes: Uint8Array, name = "checkpoint"): unknown => {
  const file = decodeSafetensorsSync(bytes)
  if (file.metadata.format !== checkpointFormat)
    throw new CheckpointError({ path: name, reason: "metadata", keys: ["format"], message: `${name}: not an sdeflow checkpoint (format ${JSON.stringify(file.metadata.format)}, expected "${checkpointFormat}")` })
  return json(name, "config", file.metadata.config)
}

/** The weights of a model with parameters `spec` from checkpoint bytes; throws SafetensorsError or CheckpointError naming `name`. */
export const checkpointWeights = (bytes: Uint8Array, spec: ParamSpec, name = "checkpoint"): CheckpointWeights => {
  const config = checkpointConfig(bytes, name)
  const file = decodeSafetensorsSync(bytes)
  checkSafetensorsSync(file, checkpointTensors(spec), { rejectNonFinite: true })
  const group = (prefix: string) => Object.fromEntries(Object.keys(spec).map((n) => [n, file.tensors[`${prefix}/${n}`]!.data as Float32Array]))
  return { step: Number(json(name, "step", file.metadata.step)), config, params: group(checkpointGroups.params), ema: group(checkpointGroups.ema) }
}
