/**
 * The decoded-split cache: `<cacheDir>/cifar10-<split>.bin`, written atomically and verified on every read.
 *
 * Layout (little-endian):
 *   magic "SDFCIFAR" (8) | version u32 | count u32 | sourceLength u32 | sha256 (32)
 *   | source (UTF-8, sourceLength) | images (count·3072, CHW) | labels (count)
 * The digest covers every byte except the magic and the digest itself, so a flip anywhere else —
 * header fields included — is detected. Reading a 150 MB file and hashing it costs well under a second,
 * which is cheap next to the ~10 s of PNG decoding it saves.
 */
import { createHash } from "node:crypto"
import { readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { writeFileAtomic, type WriteFailed } from "../files/atomic.ts"
import { CacheCorrupt } from "../../data/errors.ts"
import { IMAGE_BYTES, type Cifar10, type Split } from "../../data/cifar-dataset.ts"

const MAGIC = "SDFCIFAR"
/** Bump when the layout changes; older files then read as corrupt and are rebuilt. */
export const CACHE_VERSION = 1
const DIGEST_AT = 20
const HEADER_BYTES = DIGEST_AT + 32

/** Where a split's cache lives inside a cache directory. */
export const cachePath = (cacheDir: string, split: Split): string => join(cacheDir, `cifar10-${split}.bin`)

const digestOf = (file: Uint8Array): Uint8Array =>
  createHash("sha256").update(file.subarray(MAGIC.length, DIGEST_AT)).update(file.subarray(HEADER_BYTES)).digest()

/** Serialise a split into the cache layout (pure). */
export const encodeCacheFile = (data: Cifar10): Uint8Array => {
  const source = new TextEncoder().encode(data.source)
  const count = data.labels.length
  const file = new Uint8Array(HEADER_BYTES + source.byteLength + count * (IMAGE_BYTES + 1))
  const view = new DataView(file.buffer)
  file.set(new TextEncoder().encode(MAGIC), 0)
  view.setUint32(8, CACHE_VERSION, true)
  view.setUint32(12, count, true)
  view.setUint32(16, source.byteLength, true)
  let offset = HEADER_BYTES
  for (const part of [source, data.images, data.labels]) {
    file.set(part, offset)
    offset += part.byteLength
  }
  file.set(digestOf(file), DIGEST_AT)
  return file
}

/** Parse and verify a cache file (pure); throws `CacheCorrupt` naming the first check that failed. */
export const decodeCacheFile = (file: Uint8Array, split: Split, path: string): Cifar10 => {
  const corrupt = (why: string) => new CacheCorrupt({ path, message: `cache ${path} is unusable: ${why}` })
  if (file.byteLength < HEADER_BYTES) throw corrupt(`only ${file.byteLength} bytes, shorter than its header`)
  if (new TextDecoder().decode(file.subarray(0, MAGIC.length)) !== MAGIC) throw corrupt("wrong magic")
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength)
  const version = view.getUint32(8, true)
  if (version !== CACHE_VERSION) throw corrupt(`version ${version}, expected ${CACHE_VERSION}`)
  const count = view.getUint32(12, true)
  const sourceLength = view.getUint32(16, true)
  const expected = HEADER_BYTES + sourceLength + count * (IMAGE_BYTES + 1)
  if (file.byteLength !== expected) throw corrupt(`${file.byteLength} bytes where the header implies ${expected}`)
  const stored = file.subarray(DIGEST_AT, HEADER_BYTES)
  if (!digestOf(file).every((byte, i) => byte === stored[i])) throw corrupt("sha256 mismatch (bit rot or a torn copy)")
  const imagesAt = HEADER_BYTES + sourceLength
  const labelsAt = imagesAt + count * IMAGE_BYTES
  return {
    split,
    source: new TextDecoder().decode(file.subarray(HEADER_BYTES, imagesAt)),
    // Views into the file buffer: no second 150 MB copy.
    images: file.subarray(imagesAt, labelsAt),
    labels: file.subarray(labelsAt),
  }
}

/** Read a split's cache: `undefined` when there is none, `CacheCorrupt` when it fails verification. */
export const readCache = (cacheDir: string, split: Split): Effect.Effect<Cifar10 | undefined, CacheCorrupt> => {
  const path = cachePath(cacheDir, split)
  return Effect.try({
    try: () => {
      let buffer: Buffer
      try {
        buffer = readFileSync(path)
      } catch (e) {
        if ((e as { code?: string }).code === "ENOENT") return undefined
        throw new CacheCorrupt({ path, message: `cache ${path} is unreadable: ${String(e)}` })
      }
      return decodeCacheFile(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength), split, path)
    },
    catch: (e) => (e instanceof CacheCorrupt ? e : new CacheCorrupt({ path, message: `cache ${path}: ${String(e)}` })),
  })
}

/** Write a split's cache atomically (a crash leaves the old file or none, never a torn one). */
export const writeCache = (cacheDir: string, data: Cifar10): Effect.Effect<void, WriteFailed> =>
  Effect.suspend(() => writeFileAtomic(cachePath(cacheDir, data.split), encodeCacheFile(data)))

/** Delete a split's cache file if present. */
export const removeCache = (cacheDir: string, split: Split): Effect.Effect<void> =>
  Effect.sync(() => rmSync(cachePath(cacheDir, split), { force: true }))
