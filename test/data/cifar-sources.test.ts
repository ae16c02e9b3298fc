import { afterAll, describe, expect, test, setDefaultTimeout } from "bun:test"
import { existsSync, readdirSync } from "node:fs"
import { join } from "node:path"
import { Clock, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { type LoadProgress, loadCifar10 } from "../../src/platform/cifar/cifar10.ts"
import type { ArchiveFetchers } from "../../src/platform/cifar/fetchers.ts"
import {
  binaryTarball,
  freshDir,
  removeFreshDirs,
  hexSha256,
  mirrorTarball,
  runWith,
  scriptedFetchers,
  sriSha512,
  tinyDataset,
  valueOf,
} from "./tiny-cifar.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const data = tinyDataset(3, 5)
const mirror = await mirrorTarball(data)
const binary = await binaryTarball(data)
const fastRetry = { attempts: 4, baseDelay: "1 millis" } as const
const url = "https://example.invalid/cifar-10-binary.tar.gz"

afterAll(removeFreshDirs)

describe("retrying transient download failures", () => {
  test("a fetch that fails twice then succeeds is retried after 0.5 s and 1 s (virtual time)", async () => {
    const { fetchers, calls } = scriptedFetchers([{ fail: "ECONNRESET" }, { fail: "ETIMEDOUT" }, { serve: mirror }])
    const startedAt: number[] = []
    const timed: ArchiveFetchers = {
      ...fetchers,
      npmPack: (spec, dir) =>
        Clock.currentTimeMillis.pipe(
          Effect.tap((now) => Effect.sync(() => startedAt.push(now))),
          Effect.flatMap(() => fetchers.npmPack(spec, dir)),
        ),
    }
    const program = Effect.gen(function* () {
      // Default retry policy: the back-off is what is under test.
      const fiber = yield* Effect.forkChild(
        loadCifar10({ split: "test", source: { kind: "npm-mirror", integrity: sriSha512(mirror) }, cacheDir: freshDir("retry") }),
      )
      for (let i = 0; i < 40; i++) yield* TestClock.adjust("100 millis")
      return yield* Fiber.join(fiber)
    }).pipe(Effect.provide(TestClock.layer()))
    const { exit, logs } = await runWith(program, timed)
    expect(valueOf(exit).labels).toEqual(data.test.labels)
    expect(calls).toHaveLength(3)
    expect(startedAt).toEqual([0, 500, 1500])
    expect(logs.filter((line) => line.includes("failed"))).toHaveLength(2)
  })

  test("a fetch that never succeeds gives up after four tries with DownloadFailed", async () => {
    const { fetchers, calls } = scriptedFetchers([{ fail: "registry unreachable" }])
    const { exit } = await runWith(
      Effect.flip(loadCifar10({ split: "test", cacheDir: freshDir("giveup"), retry: fastRetry })),
      fetchers,
    )
    const error = valueOf(exit)
    expect(error._tag).toBe("DownloadFailed")
    expect(error.message).toContain("registry unreachable")
    expect(calls).toHaveLength(4)
  })
})

describe("binary tarball over HTTP", () => {
  const loadFrom = async (cacheDir: string, fetchers: ArchiveFetchers, sha256?: string) => {
    const events: LoadProgress[] = []
    const source = sha256 === undefined ? { kind: "binary-tarball-url" as const, url } : { kind: "binary-tarball-url" as const, url, sha256 }
    const run = await runWith(
      loadCifar10({ split: "test", source, cacheDir, retry: fastRetry, onProgress: (e) => events.push(e) }),
      fetchers,
    )
    return { ...run, events }
  }

  test("download progress is reported in bytes of the announced total, and the archive is kept", async () => {
    const cacheDir = freshDir("url")
    const { fetchers } = scriptedFetchers([{ serve: binary }])
    const { exit, events } = await loadFrom(cacheDir, fetchers, hexSha256(binary))
    expect(valueOf(exit).images).toEqual(data.test.images)
    const downloads = events.filter((e) => e.phase === "download")
    expect(downloads.at(-1)).toEqual({ phase: "download", bytes: binary.byteLength, total: binary.byteLength })
    expect(existsSync(join(cacheDir, "cifar-10-binary.tar.gz"))).toBe(true)
  })

  test("the kept archive serves the other split without another download", async () => {
    const cacheDir = freshDir("url-reuse")
    const { fetchers, calls } = scriptedFetchers([{ serve: binary }])
    await loadFrom(cacheDir, fetchers, hexSha256(binary))
    const train = await runWith(loadCifar10({ split: "train", source: { kind: "binary-tarball-url", url }, cacheDir }), fetchers)
    expect(valueOf(train.exit).labels).toEqual(data.train.labels)
    expect(calls).toHaveLength(1)
  })

  test("a body that fails its sha256 is never saved and ends in ChecksumMismatch", async () => {
    const cacheDir = freshDir("url-bad")
    const { fetchers, calls } = scriptedFetchers([{ serve: binary.subarray(0, 1000) }])
    const { exit } = await loadFrom(cacheDir, fetchers, hexSha256(binary))
    expect(() => valueOf(exit)).toThrow(/ChecksumMismatch/)
    expect(calls).toHaveLength(4)
    expect(readdirSync(cacheDir)).toEqual([])
  })

  test("without a known sha256, an archive that does not decode is deleted so the next load fetches afresh", async () => {
    const cacheDir = freshDir("url-nosha")
    const { fetchers, calls } = scriptedFetchers([{ serve: binary.subarray(0, 2000) }, { serve: binary }])
    const first = await loadFrom(cacheDir, fetchers)
    expect(() => valueOf(first.exit)).toThrow(/CorruptArchive/)
    expect(existsSync(join(cacheDir, "cifar-10-binary.tar.gz"))).toBe(false)
    const second = await loadFrom(cacheDir, fetchers)
    expect(valueOf(second.exit).labels).toEqual(data.test.labels)
    expect(calls).toHaveLength(2)
  })
})
