/**
 * Training checkpoints: parameters, their EMA, Adam's moments, the step, the RNG state and the run config in ONE
 * safetensors file — tensors `params/<name>`, `ema/<name>`, `adam.m/<name>`, `adam.v/<name>`, and `__metadata__`
 * holding JSON strings (`format`, `step`, `rng`, `config`, and per-tensor `checksums`). One file, written atomically, so a crash leaves either
 * the previous checkpoint or the new one; loading validates everything and never returns partial state.
 * A run directory keeps the last K `ckpt-<step>.safetensors`; `latestCheckpoint` skips (and reports) corrupt ones.
 */
import { Data, Effect, Schema, SchemaIssue } from "effect"
import { createHash } from "node:crypto"
import { readdirSync, rmSync } from "node:fs"
import { join } from "node:path"
import { WriteFailed } from "../files/atomic.ts"
import { checkAgainst, readSafetensors, ReadFailed, SafetensorsError, writeSafetensors, type ExpectedTensors, type Safetensors, type TensorRecord } from "../files/safetensors.ts"
import { sameShape } from "../../ir/shape.ts"
import type { ParamSpec } from "../../nn/module.ts"
import type { HostParams, HostTensor } from "../../nn/optim.ts"
import { CheckpointError, checkpointFormat, checkpointGroups as groups, checkpointTensors, type CheckpointReason } from "../../train/checkpoint-layout.ts"

export { CheckpointError, checkpointFormat, checkpointTensors, type CheckpointReason } from "../../train/checkpoint-layout.ts"


/** Everything needed to resume a run bit-for-bit. `rng` and `config` are any JSON values. */
export interface Checkpoint<Config = unknown, Rng = unknown> {
  /** Optimizer updates taken so far (Adam's bias correction continues from step + 1). */
  readonly step: number
  readonly params: HostParams
  readonly ema: HostParams
  readonly adam: { readonly m: HostParams; readonly v: HostParams }
  /** e.g. `{ seed, step, dataCursor }` */
  readonly rng: Rng
  readonly config: Config
}


/** Every way loading a checkpoint can fail. */
export type LoadError = ReadFailed | SafetensorsError | CheckpointError


/** The four tensor groups of a checkpoint, keyed by their name prefix in the file. */
const stateOf = (ckpt: Checkpoint): Record<string, HostParams> => ({
  [groups.params]: ckpt.params,
  [groups.ema]: ckpt.ema,
  [groups.m]: ckpt.adam.m,
  [groups.v]: ckpt.adam.v,
})

// ---- metadata ------------------------------------------------------------------------------------

/** The `__metadata__` strings, each decoded from JSON; unknown extra keys (other tools' notes) are ignored. */
const Metadata = Schema.Struct({
  format: Schema.Literal(checkpointFormat),
  step: Schema.fromJsonString(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
  rng: Schema.fromJsonString(Schema.Json),
  config: Schema.fromJsonString(Schema.Json),
  checksums: Schema.fromJsonString(Schema.Record(Schema.String, Schema.String)),
})

/**
 * First 64 bits of SHA-256 over a tensor's bytes. safetensors has no checksum of its own, and a flipped bit in
 * the data section still decodes to a plausible weight; the atomic writer prevents torn files, this catches bit
 * rot and files damaged by copies outside it. (Bytes in host order: every WebGPU host is little-endian.)
 */
const digest = (data: Float32Array): string =>
  createHash("sha256").update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).digest("hex").slice(0, 16)

/** A Schema failure as a CheckpointError listing each issue and the top-level keys they sit under. */
const schemaFailure = (path: string, reason: CheckpointReason, prefix: string, error: Schema.SchemaError): CheckpointError => {
  const issues = SchemaIssue.makeFormatterStandardSchemaV1()(error.issue).issues
  const where = (p: readonly unknown[] | undefined) => [prefix, ...(p ?? []).map((k) => String((k as { key?: unknown }).key ?? k))].filter((k) => k !== "").join(".")
  const keys = [...new Set(issues.map((i) => where(i.path).split(".").slice(0, prefix === "" ? 1 : 2).join(".")))].sort()
  const lines = issues.map((i) => `  ${where(i.path) || "(root)"}: ${i.message}`)
  return new CheckpointError({ path, reason, keys, message: `${path}: ${reason === "config" ? "config" : "metadata"} is invalid (${keys.join(", ")}):\n${lines.join("\n")}` })
}

const toJson = (path: string, key: string, value: unknown): string => {
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (cause) {
    throw new CheckpointError({ path, reason: "not-json", keys: [key], message: `${path}: ${key} is not JSON-serialisable: ${(cause as Error).message}` })
  }
  if (text === undefined) throw new CheckpointError({ path, reason: "not-json", keys: [key], message: `${path}: ${key} is not a JSON value (got ${typeof value})` })
  return text
}

// ---- save ----------------------------------------------------------------------------------------

/** Params, EMA, m and v must cover the same names with the same shapes, and each array must fill its shape. */
const checkConsistent = (path: string, ckpt: Checkpoint): void => {
  const fail = (keys: string[], why: string): never => {
    throw new CheckpointError({ path, reason: "state", keys, message: `${path}: ${why}` })
  }
  const names = Object.keys(ckpt.params)
  for (const [group, tensors] of Object.entries(stateOf(ckpt))) {
    const differ = [...names.filter((n) => !Object.hasOwn(tensors, n)), ...Object.keys(tensors).filter((n) => !Object.hasOwn(ckpt.params, n))]
    if (differ.length > 0) fail(differ.map((n) => `${group}/${n}`), `${group} and params name different tensors: ${differ.join(", ")}`)
    for (const n of names) {
      const { shape, data } = tensors[n]!
      const want = ckpt.params[n]!.shape
      if (!sameShape(shape, want) || data.length !== shape.reduce((a, b) => a * b, 1))
        fail([`${group}/${n}`], `${group}/${n} has shape [${shape.join(", ")}] and ${data.length} elements; params/${n} has shape [${want.join(", ")}]`)
    }
  }
  if (!Number.isSafeInteger(ckpt.step) || ckpt.step < 0) fail(["step"], `step must be an integer ≥ 0, got ${ckpt.step}`)
}

/** The tensors and metadata of a checkpoint as the file stores them (arrays shared, not copied). */
const encodeCheckpoint = (path: string, ckpt: Checkpoint): { tensors: Record<string, TensorRecord>; metadata: Record<string, string> } => {
  checkConsistent(path, ckpt)
  const tensors: Record<string, TensorRecord> = {}
  for (const [group, state] of Object.entries(stateOf(ckpt)))
    for (const [name, t] of Object.entries(state)) tensors[`${group}/${name}`] = { dtype: "F32", shape: t.shape, data: t.data }
  const checksums = JSON.stringify(Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, digest(t.data as Float32Array)])))
  const metadata = { format: checkpointFormat, step: String(ckpt.step), rng: toJson(path, "rng", ckpt.rng), config: toJson(path, "config", ckpt.config), checksums }
  return { tensors, metadata }
}

/** Writes `ckpt` to `path` atomically (temp file, fsync, rename, fsync of the folder). */
export const saveCheckpoint = (path: string, ckpt: Checkpoint): Effect.Effect<void, WriteFailed | SafetensorsError | CheckpointError> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(encodeCheckpoint(path, ckpt))
    } catch (error) {
      // Only CheckpointError is expected here; anything else is a bug and surfaces as a defect.
      if (error instanceof CheckpointError) return Effect.fail(error)
      throw error
    }
  }).pipe(
    Effect.flatMap(({ tensors, metadata }) => writeSafetensors(path, tensors, metadata)),
  )

// ---- load ----------------------------------------------------------------------------------------


const prefixPath = (path: string) => (e: SafetensorsError) => (e.message.startsWith(path) ? e : new SafetensorsError({ reason: e.reason, tensor: e.tensor, message: `${path}: ${e.message}` }))

const hostGroup = (file: Safetensors, group: string, spec: ParamSpec): HostParams =>
  Object.fromEntries(Object.keys(spec).map((name) => [name, { shape: [...spec[name]!], data: file.tensors[`${group}/${name}`]!.data as Float32Array } satisfies HostTensor]))

/** Options of `loadCheckpoint`: a Schema for the run config (default: any JSON). */
export interface LoadOptions<Config> {
  readonly config?: Schema.Decoder<Config>
}

/**
 * Reads and fully validates a checkpoint of a model with parameters `spec`: exact tensor names, shapes, F32 dtype,
 * metadata through its Schema (the error lists every bad key), per-tensor checksums, no NaN/Inf anywhere (the
 * error names the tensor and index). Succeeds only with a complete checkpoint.
 */
export const loadCheckpoint = <Config = unknown>(path: string, spec: ParamSpec, options: LoadOptions<Config> = {}): Effect.Effect<Checkpoint<Config>, LoadError> =>
  Effect.gen(function* () {
    const file = yield* readSafetensors(path)
    const expected = checkpointTensors(spec)
    yield* checkAgainst(file, expected).pipe(Effect.mapError(prefixPath(path)))
    const metadata = yield* Schema.decodeUnknownEffect(Metadata)(file.metadata, { errors: "all" }).pipe(Effect.mapError((e) => schemaFailure(path, "metadata", "", e)))
    // Checksums before the NaN scan: a corrupt file should be reported as corrupt, not as a diverged run.
    const corrupt = Object.keys(expected).filter((name) => metadata.checksums[name] !== digest(file.tensors[name]!.data as Float32Array))
    if (corrupt.length > 0)
      return yield* new CheckpointError({ path, reason: "checksum", keys: corrupt, message: `${path}: tensor data does not match its checksum (corrupt file): ${corrupt.join(", ")}` })
    yield* checkAgainst(file, expected, { rejectNonFinite: true }).pipe(Effect.mapError(prefixPath(path)))
    const config = options.config
      ? yield* Schema.decodeUnknownEffect(options.config)(metadata.config, { errors: "all" }).pipe(Effect.mapError((e) => schemaFailure(path, "config", "config", e)))
      : (metadata.config as Config)
    return {
      step: metadata.step,
      params: hostGroup(file, groups.params, spec),
      ema: hostGroup(file, groups.ema, spec),
      adam: { m: hostGroup(file, groups.m, spec), v: hostGroup(file, groups.v, spec) },
      rng: metadata.rng,
      config,
    }
  })

// ---- a run directory of rotating checkpoints -------------------------------------------------------

const namePattern = /^ckpt-(\d+)\.safetensors$/
// writeFileAtomicSync's temp names: `.<target>.<pid>.<counter>.tmp`.
const tempPattern = /^\.ckpt-\d+\.safetensors\.(\d+)\.\d+\.tmp$/

/** Where the checkpoint of `step` lives in `dir` (zero-padded, so names also sort by step). */
export const checkpointPath = (dir: string, step: number): string => join(dir, `ckpt-${String(step).padStart(8, "0")}.safetensors`)

const listDir = (dir: string): string[] => {
  try {
    return readdirSync(dir)
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return []
    throw error
  }
}

/** Checkpoint files of `dir` by step, newest first. */
const checkpointsIn = (dir: string): { path: string; step: number }[] =>
  listDir(dir)
    .flatMap((f) => {
      const m = namePattern.exec(f)
      return m ? [{ path: join(dir, f), step: Number(m[1]) }] : []
    })
    .sort((a, b) => b.step - a.step)

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as { code?: string }).code === "EPERM"
  }
}

/** Temp files of writers that died mid-save (killed, power loss): never checkpoints, safe to delete. */
const orphanTemps = (dir: string): string[] =>
  listDir(dir).flatMap((f) => {
    const m = tempPattern.exec(f)
    return m && Number(m[1]) !== process.pid && !isAlive(Number(m[1])) ? [join(dir, f)] : []
  })

/**
 * Saves `ckpt` as `ckpt-<step>.safetensors` in `dir`, then — only once that file is durable — deletes older ones
 * beyond the newest `keep`, any with a later step (left by a run that resumed from before them, which would
 * otherwise shadow this one on the next resume), and temp files of dead writers. Returns the path written.
 */
export const saveCheckpointTo = (dir: string, ckpt: Checkpoint, options: { readonly keep?: number } = {}): Effect.Effect<string, WriteFailed | SafetensorsError | CheckpointError> => {
  const path = checkpointPath(dir, ckpt.step)
  const keep = Math.max(1, options.keep ?? 3)
  const prune = (): string => {
    const others = checkpointsIn(dir).filter((c) => c.step !== ckpt.step)
    const stale = [...others.filter((c) => c.step > ckpt.step), ...others.filter((c) => c.step < ckpt.step).slice(keep - 1)]
    for (const file of [...stale.map((c) => c.path), ...orphanTemps(dir)]) rmSync(file, { force: true })
    return path
  }
  return saveCheckpoint(path, ckpt).pipe(
    Effect.flatMap(() =>
      Effect.try({
        try: prune,
        catch: (e) => {
          const code = (e as { code?: string }).code ?? "EUNKNOWN"
          return new WriteFailed({ path: dir, code, message: `saved ${path}, but could not remove old checkpoints in ${dir} (${code}): ${String(e)}` })
        },
      }),
    ),
  )
}

/** A checkpoint file that failed to load, and why. */
export interface SkippedCheckpoint {
  readonly path: string
  readonly error: LoadError
}

/** The newest loadable checkpoint of a directory (if any), the newer files skipped as corrupt, and temp files ignored. */
export interface LatestCheckpoint<Config> {
  readonly found?: { readonly path: string; readonly checkpoint: Checkpoint<Config> }
  readonly skipped: readonly SkippedCheckpoint[]
  readonly ignoredTemps: readonly string[]
}

/**
 * The newest valid checkpoint in `dir`, trying files from the highest step down; files that fail to load are
 * reported in `skipped`, never returned. Temp files of interrupted saves are never candidates.
 */
export const latestCheckpoint = <Config = unknown>(dir: string, spec: ParamSpec, options: LoadOptions<Config> = {}): Effect.Effect<LatestCheckpoint<Config>, ReadFailed> =>
  Effect.gen(function* () {
    const listing = yield* Effect.try({
      try: () => ({ candidates: checkpointsIn(dir), temps: listDir(dir).filter((f) => f.endsWith(".tmp")).map((f) => join(dir, f)) }),
      catch: (e) => new ReadFailed({ path: dir, code: (e as { code?: string }).code ?? "EUNKNOWN", message: `could not list ${dir}: ${String(e)}` }),
    })
    const skipped: SkippedCheckpoint[] = []
    for (const { path } of listing.candidates) {
      const result = yield* Effect.result(loadCheckpoint(path, spec, options))
      if (result._tag === "Success") return { found: { path, checkpoint: result.success }, skipped, ignoredTemps: listing.temps }
      skipped.push({ path, error: result.failure })
    }
    return { skipped, ignoredTemps: listing.temps }
  })

// ---- weights only ----------------------------------------------------------------------------------

/** Options of `loadParamsOnly`. */
export interface ParamsOnlyOptions {
  /** Maps a file's tensor name to a parameter name, or undefined to ignore it (e.g. strip a "module." prefix). */
  readonly rename?: (name: string) => string | undefined
  /** From one of our checkpoints: which weights to take (default "params"). Plain state_dicts ignore this. */
  readonly weights?: "params" | "ema"
}

const widenToF32 = (t: TensorRecord): TensorRecord =>
  t.dtype === "F64" || t.dtype === "F16" || t.dtype === "BF16" ? { dtype: "F32", shape: t.shape, data: Float32Array.from(t.data) } : t

/**
 * Parameters from a plain state_dict safetensors file (e.g. PyTorch-saved UNet weights under the reference names,
 * mapped by `rename`) or from one of our checkpoints. Float64/16 weights are converted to float32; names, shapes
 * and finiteness are validated against `spec`, with typed errors naming the tensor.
 */
export const loadParamsOnly = (path: string, spec: ParamSpec, options: ParamsOnlyOptions = {}): Effect.Effect<HostParams, ReadFailed | SafetensorsError> =>
  Effect.gen(function* () {
    const file = yield* readSafetensors(path)
    const ours = file.metadata.format === checkpointFormat
    const prefix = `${options.weights ?? "params"}/`
    const rename = ours ? (n: string) => (n.startsWith(prefix) ? n.slice(prefix.length) : undefined) : (options.rename ?? ((n: string) => n))
    const tensors: Record<string, TensorRecord> = Object.create(null)
    const sourceOf = new Map<string, string>()
    for (const [name, t] of Object.entries(file.tensors)) {
      const target = rename(name)
      if (target === undefined) continue
      const clash = sourceOf.get(target)
      if (clash !== undefined)
        return yield* new SafetensorsError({ reason: "name", tensor: target, message: `${path}: tensors "${clash}" and "${name}" both map to parameter "${target}"` })
      sourceOf.set(target, name)
      tensors[target] = widenToF32(t)
    }
    const expected = Object.fromEntries(Object.entries(spec).map(([name, shape]) => [name, { shape, dtype: "F32" as const }]))
    yield* checkAgainst({ tensors, metadata: file.metadata }, expected, { rejectNonFinite: true }).pipe(Effect.mapError(prefixPath(path)))
    return Object.fromEntries(Object.keys(spec).map((name) => [name, { shape: [...spec[name]!], data: tensors[name]!.data as Float32Array }]))
  })
