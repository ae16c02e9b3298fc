/**
 * Bad files and bad settings: a checkpoint with a NaN weight, configurations with random bad values, a decoded
 * CIFAR-10 cache with a flipped byte. Each is caught with a typed error that names the culprit (or repaired),
 * and none turns into a crash or a run that trains on garbage.
 */
import { afterAll, describe, expect, test, setDefaultTimeout } from "bun:test"
import fc from "fast-check"
import { Effect } from "effect"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { cachePath } from "../../src/platform/cifar/cifar-cache.ts"
import { loadCifar10, type LoadProgress } from "../../src/platform/cifar/cifar10.ts"
import { decodeConfig, presets } from "../../src/train/config.ts"
import { checkpointPath, latestCheckpoint, loadCheckpoint, saveCheckpointTo, type Checkpoint } from "../../src/platform/train/checkpoint.ts"
import type { HostParams } from "../../src/nn/optim.ts"
import { toyRun, toyShapes } from "../support/fault-child.ts"
import { freshDir, mirrorTarball, removeFreshDirs, runWith, scriptedFetchers, sriSha512, tinyDataset, valueOf } from "../data/tiny-cifar.ts"
import { seeded } from "./children.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const scratch = mkdtempSync(join(tmpdir(), "sdeflow-files-"))
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true })
  removeFreshDirs()
})
let dirs = 0
const dir = () => join(scratch, `d${dirs++}`)

// ---- NaN in a checkpoint's weights ------------------------------------------------------------------

const groupNames = ["params", "ema", "adam.m", "adam.v"] as const
const hostParams = (fill: (name: string, i: number) => number): HostParams =>
  Object.fromEntries(
    Object.entries(toyShapes).map(([name, shape]) => {
      const size = shape.reduce((a, b) => a * b, 1)
      return [name, { shape: [...shape], data: Float32Array.from({ length: size }, (_, i) => fill(name, i)) }]
    }),
  )
const checkpointAt = (step: number): Checkpoint => ({
  step,
  params: hostParams((_, i) => Math.sin(i + step)),
  ema: hostParams((_, i) => Math.cos(i + step)),
  adam: { m: hostParams((_, i) => 1e-3 * Math.sin(i)), v: hostParams((_, i) => 1e-6 * (i + 1)) },
  rng: { seed: 1, rejected: 0 },
  config: { toy: "swissroll" },
})

describe("a checkpoint with a non-finite weight", () => {
  test("30 random NaN/±Inf plants: loadCheckpoint fails with a typed error naming the tensor and the index", async () => {
    const folder = dir()
    const names = Object.keys(toyShapes)
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...groupNames),
        fc.constantFrom(...names),
        fc.nat(),
        fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
        async (group, name, at, value) => {
          const ckpt = checkpointAt(7)
          const target = { params: ckpt.params, ema: ckpt.ema, "adam.m": ckpt.adam.m, "adam.v": ckpt.adam.v }[group][name]!
          const index = at % target.data.length
          ;(target.data as Float32Array)[index] = value
          await Effect.runPromise(saveCheckpointTo(folder, ckpt))
          const error = await Effect.runPromise(Effect.flip(loadCheckpoint(checkpointPath(folder, 7), toyShapes)))
          expect(error._tag).toBe("SafetensorsError")
          expect(error.message).toContain(`"${group}/${name}"`)
          expect(error.message).toContain(`flat index ${index}`)
          expect(error.message).toContain(String(value))
        },
      ),
      { numRuns: 30, seed: 3 },
    )
  })

  test("a run whose newest checkpoint holds a NaN resumes from the one before it and says which it skipped", async () => {
    const out = dir()
    const checkpoints = join(out, "checkpoints")
    await toyRun({ out, steps: 10, checkpointEvery: 5 })
    const newest = checkpointPath(checkpoints, 10)
    const good = (await Effect.runPromise(loadCheckpoint(newest, toyShapes))) as Checkpoint
    const poisoned = { ...good, params: { ...good.params } }
    const first = Object.keys(toyShapes)[0]!
    poisoned.params[first] = { shape: good.params[first]!.shape, data: good.params[first]!.data.map((v, i) => (i === 3 ? Number.NaN : v)) }
    await Effect.runPromise(saveCheckpointTo(checkpoints, poisoned))

    const events = await toyRun({ out, steps: 12, checkpointEvery: 5 })
    const started = events[0]!
    expect(started._tag).toBe("Started")
    if (started._tag !== "Started") return
    expect(started.step).toBe(5)
    expect(started.resumedFrom).toBe(checkpointPath(checkpoints, 5))
    expect(started.skipped).toEqual([newest])
    expect(events.at(-1)!._tag).toBe("Finished")
  }, 30_000)
})

// ---- configurations with random bad values ----------------------------------------------------------

type Key = keyof typeof presets.cpu
/** For each key, values its Schema must reject. */
const badValues: Record<Key, readonly unknown[]> = {
  dataset: ["imagenet", 3, null],
  sde: ["vpsde", ""],
  model: ["resnet", true],
  ch: [0, -8, 1.5, "32"],
  chMult: [[0], [1, -2], "1,2", [1.5]],
  numResBlocks: [0, 2.5],
  attnResolutions: [[-16], 16],
  hidden: [[0], [128, 1.5], null],
  steps: [0, -1, 0.5, Number.NaN, "many"],
  batch: [0, 1e-9, "16"],
  lr: [0, -1e-4, Number.POSITIVE_INFINITY, Number.NaN, "fast"],
  warmup: [-1, 2.5],
  emaDecay: [1.5, -0.1, Number.NaN],
  gradClip: [0, -1, Number.POSITIVE_INFINITY],
  debias: ["yes", 1],
  eps: [0, 0.9, -1e-3, Number.NaN],
  evalEvery: [-5, 0.5],
  evalSamples: [-1],
  sampleEvery: [1.5],
  sampleSteps: [0],
  sampleCount: [-16],
  checkpointEvery: [-100],
  keep: [0],
  seed: [-1, 0.5],
  out: ["", 7],
}
const keys = Object.keys(badValues) as Key[]
/** Keys holding arrays: a bad element is reported under a garbled path (see the failing test below). */
const arrayKeys: readonly Key[] = ["chMult", "attnResolutions", "hidden"]
const scalarKeys = keys.filter((k) => !arrayKeys.includes(k))
const isNamed = (issues: readonly string[], key: string) =>
  issues.some((line) => line.startsWith(`${key}:`) || line.startsWith(`${key}.`) || line.startsWith(`${key}[`) || line === `unknown key "${key}"`)

describe("configurations with random bad values", () => {
  test("300 random sets of 1–6 bad scalar keys (plus sometimes an unknown one): the error lists every one of them, and only them", async () => {
    let checked = 0
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.constantFrom(...scalarKeys), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { minLength: 6, maxLength: 6 }),
        fc.constantFrom("cpu", "paper", "swissroll"),
        fc.option(fc.constantFrom("learningRate", "epochs", "betaMax"), { nil: undefined }),
        async (bad, picks, preset, unknownKey) => {
          const overrides: Record<string, unknown> = Object.fromEntries(bad.map((k, i) => [k, badValues[k][picks[i]! % badValues[k].length]]))
          if (unknownKey) overrides[unknownKey] = 1
          const error = await Effect.runPromise(Effect.flip(decodeConfig(preset, overrides)))
          expect(error._tag).toBe("ConfigError")
          const named = (key: string) => isNamed(error.issues, key)
          const missing = [...bad, ...(unknownKey ? [unknownKey] : [])].filter((k) => !named(k))
          expect({ overrides, missing, issues: error.issues }).toEqual({ overrides, missing: [], issues: error.issues })
          // No good key is blamed.
          const blamed = keys.filter((k) => !bad.includes(k) && named(k))
          expect(blamed).toEqual([])
          checked++
        },
      ),
      { numRuns: 300, seed: 5 },
    )
    expect(checked).toBe(300)
  })

  // Known bug (src/train/config.ts `issueLines`, reported): Schema's `at ["chMult"][0]` becomes the line
  // `chMult][0: expected a value greater than 0`, which names no key cleanly.
  test("a bad element of an array key is reported under that key", async () => {
    for (const key of arrayKeys)
      for (const value of badValues[key].filter(Array.isArray)) {
        const error = await Effect.runPromise(Effect.flip(decodeConfig("cpu", { [key]: value })))
        expect(isNamed(error.issues, key)).toBe(true)
      }
  })
})

// ---- a flipped byte in the decoded CIFAR-10 cache ---------------------------------------------------

describe("a decoded CIFAR-10 cache with a flipped byte", () => {
  test("20 random flips (header, source, pixels, labels): each caught by the checksum, the split rebuilt identical", async () => {
    const data = tinyDataset(2, 11)
    const mirror = await mirrorTarball(data)
    const source = { kind: "npm-mirror", integrity: sriSha512(mirror) } as const
    const cacheDir = freshDir("reliability-flip")
    const load = async () => {
      const events: LoadProgress[] = []
      const run = await runWith(loadCifar10({ split: "train", source, cacheDir, retry: { attempts: 1, baseDelay: "1 millis" }, onProgress: (e) => events.push(e) }), scriptedFetchers([{ serve: mirror }]).fetchers)
      return { data: valueOf(run.exit), cache: events.flatMap((e) => (e.phase === "cache" ? [e.event] : [])) }
    }
    expect((await load()).cache).toEqual(["miss", "written"])
    const random = seeded(99)
    const path = cachePath(cacheDir, "train")
    for (let flip = 0; flip < 20; flip++) {
      const bytes = readFileSync(path)
      const at = Math.floor(random() * bytes.byteLength)
      bytes[at]! ^= 1 << Math.floor(random() * 8)
      writeFileSync(path, bytes)
      const rebuilt = await load()
      expect({ at, cache: rebuilt.cache }).toEqual({ at, cache: ["corrupt", "written"] })
      expect(rebuilt.data.images).toEqual(data.train.images)
      expect(rebuilt.data.labels).toEqual(data.train.labels)
    }
    expect((await load()).cache).toEqual(["hit"])
  }, 30_000)
})
