/**
 * Faults during training on the toy problem: a NaN in one step's data, a disk that fills up under a checkpoint
 * write, and a WebGPU device destroyed from outside mid-run. Each is survived or reported as a typed error,
 * and no checkpoint is ever lost.
 */
import { afterAll, describe, expect, test, setDefaultTimeout } from "bun:test"
import { Effect, Stream } from "effect"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { bunGpu } from "../../src/platform/bun.ts"
import { openGpu, type GpuHandle } from "../../src/runtime/gpu.ts"
import { checkpointPath, latestCheckpoint, loadCheckpoint } from "../../src/platform/train/checkpoint.ts"
import { trainResilient, type ResilientEvent } from "../../src/platform/train/resilience.ts"
import { swissrollBatch, toyOptions, toyRun, toyShapes } from "../support/fault-child.ts"
import { lineReader } from "./children.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const scratch = mkdtempSync(join(tmpdir(), "sdeflow-faults-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))
let dirs = 0
const dir = () => join(scratch, `run${dirs++}`)
const child = join(import.meta.dir, "..", "support", "fault-child.ts")
/** Loss by step, from the Step events of a run. */
const lossesOf = (events: readonly ResilientEvent[]) => new Map(events.flatMap((e) => (e._tag === "Step" ? [[e.step, e.loss] as const] : [])))

describe("a NaN in one step's batch", () => {
  test("that step is rejected, counted in the events and the summary, and training continues from the state before it", async () => {
    const out = dir()
    const poisoned = 7
    const batch = (step: number) => (step === poisoned ? swissrollBatch(step).map((v, i) => (i === 5 ? Number.NaN : v)) : swissrollBatch(step))
    const events = await toyRun({ out, steps: 20, checkpointEvery: 1, keep: 100, batch })
    const rejected = events.filter((e) => e._tag === "Rejected")
    expect(rejected).toEqual([{ _tag: "Rejected", step: poisoned, loss: Number.NaN, rejectedSoFar: 1 }])
    expect(events.filter((e) => e._tag === "Step").map((e) => e.step)).toEqual([...Array(20).keys()].map((i) => i + 1).filter((s) => s !== poisoned))
    expect(events.at(-1)).toMatchObject({ _tag: "Finished", step: 20, rejected: 1 })
    expect(JSON.parse(readFileSync(join(out, "summary.json"), "utf8"))).toMatchObject({ steps: 20, rejected: 1 })
    // Step 8 started from step 6's state: its checkpoint differs from 6's, and every weight is finite.
    const [six, eight] = await Promise.all([6, 8].map((s) => Effect.runPromise(loadCheckpoint(checkpointPath(join(out, "checkpoints"), s), toyShapes))))
    expect(six!.rng).toEqual({ seed: 1, rejected: 0 })
    expect(eight!.rng).toEqual({ seed: 1, rejected: 1 })
    // The rejected step changed nothing: a clean run's step 6 state equals this run's.
    const clean = await toyRun({ out: dir(), steps: 6, checkpointEvery: 6 })
    expect(lossesOf(clean).get(6)).toBe(lossesOf(events).get(6)!)
  }, 30_000)
})

/** Mounts a tmpfs of `kib` KiB at `path`; false when this machine does not allow it (not root, no CAP_SYS_ADMIN). */
const mountTiny = (path: string, kib: number): boolean => {
  mkdirSync(path, { recursive: true })
  return Bun.spawnSync(["mount", "-t", "tmpfs", "-o", `size=${kib}k`, "tmpfs", path], { stderr: "pipe" }).exitCode === 0
}

describe("a full disk under a checkpoint write", () => {
  test("a file-size limit (ulimit -f) hit mid-save: typed WriteFailed naming the file; the previous checkpoint intact", async () => {
    const out = dir()
    await toyRun({ out, steps: 10, checkpointEvery: 5 })
    const checkpoints = join(out, "checkpoints")
    const before = readFileSync(checkpointPath(checkpoints, 10))
    // A checkpoint is ~75 KB; metrics.jsonl stays far below 40 KB. SIGXFSZ is ignored so write() fails with EFBIG.
    const proc = Bun.spawn(["bash", "-c", `trap '' XFSZ; ulimit -f 40; exec "$0" "$@"`, process.execPath, child, out, "20", "5"], { stdout: "pipe", stderr: "pipe" })
    const output = await lineReader(proc.stdout).rest()
    expect(await proc.exited).toBe(2)
    const failed = JSON.parse(output.split("\n").find((l) => l.startsWith("FAILED "))!.slice(7))
    expect(failed).toMatchObject({ tag: "TrainFailed", cause: { tag: "WriteFailed", code: "EFBIG" } })
    expect(failed.message).toContain("ckpt-00000015.safetensors")
    expect(new Uint8Array(readFileSync(checkpointPath(checkpoints, 10)))).toEqual(new Uint8Array(before))
    const latest = await Effect.runPromise(latestCheckpoint(checkpoints, toyShapes))
    expect(latest.found?.checkpoint.step).toBe(10)
    expect(latest.skipped).toEqual([])
    expect(readdirSync(checkpoints).filter((f) => f.endsWith(".tmp"))).toEqual([]) // the failed temp file is removed
  }, 30_000)

  test("metrics.jsonl itself cannot be appended to: a typed WriteFailed, not a crash", async () => {
    const out = dir()
    // 1 KiB fills after a handful of metrics lines; no checkpoints until the end (checkpointEvery 0).
    const proc = Bun.spawn(["bash", "-c", `trap '' XFSZ; ulimit -f 1; exec "$0" "$@"`, process.execPath, child, out, "20", "0"], { stdout: "pipe", stderr: "pipe" })
    const output = await lineReader(proc.stdout).rest()
    expect(await proc.exited).toBe(2)
    const failed = JSON.parse(output.split("\n").find((l) => l.startsWith("FAILED "))!.slice(7))
    expect(failed).toMatchObject({ tag: "TrainFailed", cause: { tag: "WriteFailed", code: "EFBIG", path: join(out, "metrics.jsonl") } })
  }, 30_000)

  const tiny = join(scratch, "tiny")
  const mounted = mountTiny(join(tiny, "checkpoints"), 120)
  afterAll(() => mounted && Bun.spawnSync(["umount", join(tiny, "checkpoints")]))
  test.skipIf(!mounted)("a real ENOSPC (checkpoints on a 120 KiB tmpfs): typed WriteFailed, the previous checkpoint intact and loadable", async () => {
    let error: unknown
    try {
      await toyRun({ out: tiny, steps: 20, checkpointEvery: 5 })
    } catch (e) {
      error = e
    }
    expect(error).toMatchObject({ _tag: "TrainFailed", cause: { _tag: "WriteFailed", code: "ENOSPC" } })
    expect((error as Error).message).toContain("ckpt-00000010.safetensors")
    const latest = await Effect.runPromise(latestCheckpoint(join(tiny, "checkpoints"), toyShapes))
    expect(latest.found?.checkpoint.step).toBe(5)
    expect(latest.skipped).toEqual([])
  }, 30_000)
})

describe("the WebGPU device destroyed mid-training", () => {
  test("trainResilient re-acquires a device after a back-off and resumes from the latest checkpoint; losses match an uninterrupted run", async () => {
    const steps = 40
    const reference = await withDevice((gpu) => collect(trainDirect(gpu, dir(), steps)))
    const out = dir()
    const devices: GpuHandle[] = []
    const destroyAt = 24
    const events = await collect(
      trainResilient(toyOptions({ out, steps, checkpointEvery: 10 }), {
        acquire: async () => {
          const gpu = await openGpu(bunGpu())
          devices.push(gpu)
          return gpu
        },
        baseDelay: "20 millis",
        maxDelay: "200 millis",
      }),
      (e) => {
        // Pull the device out from under the run, as a driver reset would.
        if (e._tag === "Step" && e.step === destroyAt && devices.length === 1) devices[0]!.device.destroy()
      },
    )
    expect(devices).toHaveLength(2)
    const lost = events.filter((e) => e._tag === "DeviceLost")
    expect(lost).toHaveLength(1)
    expect(lost[0]).toMatchObject({ recovery: 1 })
    const starts = events.filter((e) => e._tag === "Started")
    expect(starts).toHaveLength(2)
    // The loop may have run ahead of this consumer by a few steps; it resumes from the last checkpoint it wrote.
    expect(starts[1]).toMatchObject({ step: 20, resumedFrom: checkpointPath(join(out, "checkpoints"), 20) })
    expect(events.at(-1)).toMatchObject({ _tag: "Finished", step: steps })
    const expected = lossesOf(reference)
    const resumed = events.slice(events.indexOf(starts[1]!))
    for (const [step, loss] of lossesOf(resumed)) expect({ step, loss }).toEqual({ step, loss: expected.get(step)! })
    // Three devices compile the same programs; on a cold Mesa shader cache and a slow 2-core CPU that
    // outlasted 60 s.
  }, 600_000)
})

const collect = async (stream: Stream.Stream<ResilientEvent, unknown>, onEvent: (e: ResilientEvent) => void = () => {}): Promise<ResilientEvent[]> => {
  const events: ResilientEvent[] = []
  await Effect.runPromise(
    Stream.runForEach(stream, (e) =>
      Effect.sync(() => {
        events.push(e)
        onEvent(e)
      }),
    ).pipe(Effect.scoped),
  )
  return events
}

const withDevice = async <A>(body: (gpu: GpuHandle) => Promise<A>): Promise<A> => {
  const gpu = await openGpu(bunGpu())
  try {
    return await body(gpu)
  } finally {
    gpu.pool.destroy()
    gpu.device.destroy()
  }
}

const trainDirect = (gpu: GpuHandle, out: string, steps: number): Stream.Stream<ResilientEvent, unknown> =>
  trainResilient(toyOptions({ out, steps, checkpointEvery: 10 }), { acquire: async () => gpu, maxRecoveries: 0 })
