/**
 * safetensors files: reading with a typed error naming the path, and writing atomically. The format itself
 * (encode, decode, check) is `safetensors-codec.ts`, which has no file system and serves browsers too.
 */
import { Data, Effect } from "effect"
import { readFile } from "node:fs/promises"
import { writeFileAtomic, type WriteFailed } from "./atomic.ts"
import { decodeSafetensors, encodeSafetensors, safetensorsEffect, SafetensorsError, type DecodeOptions, type Safetensors, type TensorRecord } from "../../io/safetensors-codec.ts"

export * from "../../io/safetensors-codec.ts"

/** Reading a file failed; `path` names it, `code` the OS error (ENOENT for a missing file). */
export class ReadFailed extends Data.TaggedError("ReadFailed")<{
  readonly message: string
  readonly path: string
  readonly code: string
}> {}

/** Read and decode a safetensors file; decoding errors carry the path in their message. */
export const readSafetensors = (path: string, options: DecodeOptions = {}): Effect.Effect<Safetensors, SafetensorsError | ReadFailed> =>
  Effect.tryPromise({
    try: () => readFile(path),
    catch: (error) => {
      const code = (error as { code?: string }).code ?? "EUNKNOWN"
      return new ReadFailed({ path, code, message: `could not read ${path} (${code}): ${(error as Error).message ?? String(error)}` })
    },
  }).pipe(
    Effect.flatMap((bytes) => decodeSafetensors(bytes, options)),
    Effect.mapError((error) =>
      error._tag === "SafetensorsError"
        ? new SafetensorsError({ reason: error.reason, tensor: error.tensor, message: `${path}: ${error.message}` })
        : error,
    ),
  )

/** Encode and write atomically: a failure at any point leaves the previous file at `path` untouched. */
export const writeSafetensors = (
  path: string,
  tensors: Readonly<Record<string, TensorRecord>>,
  metadata: Readonly<Record<string, string>> = {},
): Effect.Effect<void, WriteFailed | SafetensorsError> =>
  safetensorsEffect(() => encodeSafetensors(tensors, metadata)).pipe(Effect.flatMap((bytes) => writeFileAtomic(path, bytes)))
