/**
 * Atomic file writes: write a sibling temp file, fsync it, rename over the target, fsync the folder.
 * A crash at any moment leaves either the old file or the new one — never a torn mix.
 */
import { Data, Effect } from "effect"
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs"
import { dirname, basename, join } from "node:path"

/** Writing failed; `path` names the target, `code` the OS error (ENOSPC for a full disk). */
export class WriteFailed extends Data.TaggedError("WriteFailed")<{
  readonly message: string
  readonly path: string
  readonly code: string
}> {}

let counter = 0

/** Synchronous core, for finalizers and signal handlers that cannot await. */
export const writeFileAtomicSync = (path: string, data: Uint8Array | string): void => {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data
  mkdirSync(dirname(path), { recursive: true })
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${counter++}.tmp`)
  try {
    const fd = openSync(temp, "w", 0o644)
    try {
      let written = 0
      while (written < bytes.byteLength) written += writeSync(fd, bytes, written)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(temp, path)
  } catch (error) {
    rmSync(temp, { force: true })
    throw error
  }
  // The rename is durable only once the directory entry is on disk.
  const dir = openSync(dirname(path), "r")
  try {
    fsyncSync(dir)
  } finally {
    closeSync(dir)
  }
}

/** `writeFileAtomicSync` as an Effect with a typed error naming the path and OS code. */
export const writeFileAtomic = (path: string, data: Uint8Array | string): Effect.Effect<void, WriteFailed> =>
  Effect.try({
    try: () => writeFileAtomicSync(path, data),
    catch: (e) => {
      const code = (e as { code?: string }).code ?? "EUNKNOWN"
      return new WriteFailed({ path, code, message: `could not write ${path} (${code}): ${String((e as Error).message ?? e)}` })
    },
  })
