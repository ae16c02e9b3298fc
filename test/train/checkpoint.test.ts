import { afterAll, describe, expect, test, setDefaultTimeout } from "bun:test"
import { Effect, Schema } from "effect"
import { mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { readSafetensors, writeSafetensors, type TensorRecord } from "../../src/platform/files/safetensors.ts"
import type { ParamSpec } from "../../src/nn/module.ts"
import { optimizerState, type HostParams, type HostTensor } from "../../src/nn/optim.ts"
import { lineReader, seeded } from "../reliability/children.ts"
import {
  checkpointPath,
  latestCheckpoint,
  loadCheckpoint,
  loadParamsOnly,
  saveCheckpoint,
  saveCheckpointTo,
  type Checkpoint,
} from "../../src/platform/train/checkpoint.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const scratch = mkdtempSync(join(tmpdir(), "sdeflow-ckpt-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))
let dirCounter = 0
const freshDir = (): string => join(scratch, `run${dirCounter++}`)

const spec: ParamSpec = { "conv.weight": [2, 3, 3, 3], "conv.bias": [2], "dense.weight": [4, 2] }

/** Float32 values with every awkward bit pattern a round trip must keep: −0, subnormals, huge, tiny. */
const awkward = [-0, 1.4e-45, -3.4e38, 1e-38, 0.1, -1 / 3, 65504.5, 2 ** -126]
const hostTensor = (shape: readonly number[], value: (i: number) => number): HostTensor => {
  const size = shape.reduce((a, b) => a * b, 1)
  return { shape: [...shape], data: Float32Array.from({ length: size }, (_, i) => value(i)) }
}
const paramsAt = (step: number, s: ParamSpec = spec): HostParams =>
  Object.fromEntries(Object.entries(s).map(([name, shape], k) => [name, hostTensor(shape, (i) => (i < awkward.length ? awkward[i]! : Math.sin(i * 0.37 + k + step)))]))

const checkpointAt = (step: number, s: ParamSpec = spec): Checkpoint => {
  const params = paramsAt(step, s)
  const state = optimizerState(params)
  const m = Object.fromEntries(Object.entries(state.m).map(([n, t]) => [n, hostTensor(t.shape, (i) => Math.cos(i + step) * 1e-3)]))
  const v = Object.fromEntries(Object.entries(state.v).map(([n, t]) => [n, hostTensor(t.shape, (i) => (i + step) * 1e-7)]))
  return { step, params, ema: state.ema, adam: { m, v }, rng: { seed: 7, step, dataCursor: step * 64 }, config: { lr: 2e-4, batch: 64, sde: "vp" } }
}

const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> => Effect.runPromise(effect)
const failure = <A, E>(effect: Effect.Effect<A, E>): Promise<E> => Effect.runPromise(Effect.flip(effect))
const bits = (t: HostTensor): Uint32Array => new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length)
const expectSameBits = (a: HostParams, b: HostParams): void => {
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort())
  for (const name of Object.keys(a)) {
    expect(a[name]!.shape).toEqual(b[name]!.shape)
    expect(bits(a[name]!)).toEqual(bits(b[name]!))
  }
}

/** Rewrites a saved checkpoint with some tensors or metadata changed (a file another tool could have written). */
const rewrite = async (path: string, edit: (tensors: Record<string, TensorRecord>, metadata: Record<string, string>) => void): Promise<void> => {
  const file = await run(readSafetensors(path))
  const tensors = { ...file.tensors }
  const metadata = { ...file.metadata }
  edit(tensors, metadata)
  await run(writeSafetensors(path, tensors, metadata))
}

describe("saveCheckpoint / loadCheckpoint", () => {
  test("round-trips params, EMA, Adam moments, step, RNG state and config bit-exactly", async () => {
    const path = join(freshDir(), "ckpt.safetensors")
    const saved = checkpointAt(1234)
    await run(saveCheckpoint(path, saved))
    const loaded = await run(loadCheckpoint(path, spec))
    expectSameBits(loaded.params, saved.params)
    expectSameBits(loaded.ema, saved.ema)
    expectSameBits(loaded.adam.m, saved.adam.m)
    expectSameBits(loaded.adam.v, saved.adam.v)
    expect(Object.is(loaded.params["conv.weight"]!.data[0], -0)).toBe(true)
    expect(loaded.step).toBe(1234)
    expect(loaded.rng).toEqual({ seed: 7, step: 1234, dataCursor: 1234 * 64 })
    expect(loaded.config).toEqual({ lr: 2e-4, batch: 64, sde: "vp" })
  })

  test("is ONE safetensors file with params/, ema/, adam.m/, adam.v/ tensors and JSON metadata", async () => {
    const path = join(freshDir(), "ckpt.safetensors")
    await run(saveCheckpoint(path, checkpointAt(5)))
    const file = await run(readSafetensors(path))
    expect(Object.keys(file.tensors).sort()).toEqual(
      ["params", "ema", "adam.m", "adam.v"].flatMap((g) => Object.keys(spec).map((n) => `${g}/${n}`)).sort(),
    )
    expect(file.metadata.format).toBe("sdeflow-checkpoint/1")
    expect(JSON.parse(file.metadata.step!)).toBe(5)
    expect(JSON.parse(file.metadata.rng!)).toEqual({ seed: 7, step: 5, dataCursor: 320 })
    expect(Object.keys(JSON.parse(file.metadata.checksums!)).length).toBe(4 * Object.keys(spec).length)
  })

  test("decodes the config through a Schema, naming the bad field", async () => {
    const path = join(freshDir(), "ckpt.safetensors")
    await run(saveCheckpoint(path, checkpointAt(1)))
    const Config = Schema.Struct({ lr: Schema.Number, batch: Schema.Int, sde: Schema.Literals(["vp", "subvp"]) })
    const config = (await run(loadCheckpoint(path, spec, { config: Config }))).config
    expect(config.sde).toBe("vp")
    const Strict = Schema.Struct({ lr: Schema.String, batch: Schema.Int })
    const error = await failure(loadCheckpoint(path, spec, { config: Strict }))
    expect(error._tag).toBe("CheckpointError")
    expect(error._tag === "CheckpointError" && error.keys).toEqual(["config.lr"])
  })

  test("refuses to save params and optimizer state that name different tensors", async () => {
    const ckpt = checkpointAt(1)
    const { "conv.bias": _dropped, ...m } = ckpt.adam.m
    const error = await failure(saveCheckpoint(join(freshDir(), "x.safetensors"), { ...ckpt, adam: { ...ckpt.adam, m } }))
    expect(error._tag).toBe("CheckpointError")
    expect(error.message).toContain("conv.bias")
  })
})

describe("loadCheckpoint rejects, with typed errors naming the problem", () => {
  const saved = async (): Promise<string> => {
    const path = join(freshDir(), "ckpt.safetensors")
    await run(saveCheckpoint(path, checkpointAt(3)))
    return path
  }

  test("a parameter the model has but the file lacks", async () => {
    const error = await failure(loadCheckpoint(await saved(), { ...spec, "extra.weight": [3] }))
    expect(error._tag === "SafetensorsError" && error.reason).toBe("missing")
    expect(error.message).toContain("params/extra.weight")
  })

  test("a tensor the model does not have", async () => {
    const { "conv.bias": _dropped, ...smaller } = spec
    const error = await failure(loadCheckpoint(await saved(), smaller))
    expect(error._tag === "SafetensorsError" && error.reason).toBe("unexpected")
    expect(error.message).toContain("params/conv.bias")
  })

  test("a shape mismatch", async () => {
    const error = await failure(loadCheckpoint(await saved(), { ...spec, "dense.weight": [2, 4] }))
    expect(error._tag === "SafetensorsError" && error.reason).toBe("shape")
    expect(error._tag === "SafetensorsError" && error.tensor).toMatch(/\/dense\.weight$/)
  })

  test("a dtype mismatch", async () => {
    const path = await saved()
    await rewrite(path, (tensors) => {
      tensors["ema/conv.bias"] = { dtype: "F64", shape: [2], data: new Float64Array([1, 2]) }
    })
    const error = await failure(loadCheckpoint(path, spec))
    expect(error._tag === "SafetensorsError" && error.reason).toBe("dtype")
    expect(error._tag === "SafetensorsError" && error.tensor).toBe("ema/conv.bias")
  })

  test("NaN or Inf in any weight, naming the tensor", async () => {
    const path = join(freshDir(), "ckpt.safetensors")
    const ckpt = checkpointAt(3)
    ckpt.adam.v["dense.weight"]!.data[5] = Number.POSITIVE_INFINITY
    await run(saveCheckpoint(path, ckpt))
    const error = await failure(loadCheckpoint(path, spec))
    expect(error._tag === "SafetensorsError" && error.reason).toBe("non-finite")
    expect(error.message).toContain(`"adam.v/dense.weight" holds Infinity at flat index 5`)
  })

  test("metadata with bad keys: one Schema error listing every one of them", async () => {
    const path = await saved()
    await rewrite(path, (_, metadata) => {
      metadata.step = "-4"
      metadata.rng = "{not json"
      delete metadata.config
    })
    const error = await failure(loadCheckpoint(path, spec))
    expect(error._tag).toBe("CheckpointError")
    if (error._tag !== "CheckpointError") return
    expect(error.reason).toBe("metadata")
    expect(error.keys).toEqual(["config", "rng", "step"])
    expect(error.message).toMatch(/step: .*greater than or equal to 0/)
    expect(error.message).toContain(path)
  })

  test("a flipped bit in the data section (which still decodes), by its checksum", async () => {
    const path = await saved()
    const bytes = readFileSync(path)
    bytes[bytes.length - 3]! ^= 0x10
    writeFileSync(path, bytes)
    const error = await failure(loadCheckpoint(path, spec))
    expect(error._tag === "CheckpointError" && error.reason).toBe("checksum")
    expect(error._tag === "CheckpointError" && error.keys).toHaveLength(1)
  })
})

describe("a run directory of rotating checkpoints", () => {
  test("keeps the newest K and removes older ones after the new one is written", async () => {
    const dir = freshDir()
    for (const step of [100, 200, 300, 400, 500]) await run(saveCheckpointTo(dir, checkpointAt(step), { keep: 3 }))
    expect(readdirSync(dir).sort()).toEqual([300, 400, 500].map((s) => checkpointPath(dir, s).slice(dir.length + 1)))
    const latest = await run(latestCheckpoint(dir, spec))
    expect(latest.found?.checkpoint.step).toBe(500)
    expect(latest.skipped).toEqual([])
  })

  test("a save supersedes checkpoints of later steps (left by a run that resumed from before them)", async () => {
    const dir = freshDir()
    for (const step of [10, 20, 30]) await run(saveCheckpointTo(dir, checkpointAt(step)))
    await run(saveCheckpointTo(dir, checkpointAt(25)))
    expect((await run(latestCheckpoint(dir, spec))).found?.checkpoint.step).toBe(25)
  })

  test("skips a truncated latest checkpoint in favour of the previous valid one, and reports it", async () => {
    const dir = freshDir()
    for (const step of [1, 2, 3]) await run(saveCheckpointTo(dir, checkpointAt(step)))
    truncateSync(checkpointPath(dir, 3), 1000)
    const latest = await run(latestCheckpoint(dir, spec))
    expect(latest.found?.checkpoint.step).toBe(2)
    expect(latest.found?.path).toBe(checkpointPath(dir, 2))
    expect(latest.skipped.map((s) => s.path)).toEqual([checkpointPath(dir, 3)])
    expect(latest.skipped[0]!.error._tag).toBe("SafetensorsError")
  })

  test("skips byte-flipped checkpoints (header or data) down to the newest intact one", async () => {
    const dir = freshDir()
    for (const step of [1, 2, 3]) await run(saveCheckpointTo(dir, checkpointAt(step)))
    const flip = (step: number, at: (length: number) => number) => {
      const bytes = readFileSync(checkpointPath(dir, step))
      bytes[at(bytes.length)]! ^= 0x04
      writeFileSync(checkpointPath(dir, step), bytes)
    }
    flip(3, (n) => n - 100) // data section: caught by the checksum
    flip(2, () => 12) // inside the JSON header
    const latest = await run(latestCheckpoint(dir, spec))
    expect(latest.found?.checkpoint.step).toBe(1)
    expect(latest.skipped.map((s) => [s.path, s.error._tag])).toEqual([
      [checkpointPath(dir, 3), "CheckpointError"],
      [checkpointPath(dir, 2), "SafetensorsError"],
    ])
  })

  test("finds nothing in a missing or empty directory", async () => {
    expect((await run(latestCheckpoint(join(scratch, "never-created"), spec))).found).toBeUndefined()
  })
})

describe("loadParamsOnly", () => {
  test("reads a PyTorch-saved state_dict under the reference names", async () => {
    const fixture = new URL("../io/fixtures/pytorch-like.safetensors", import.meta.url).pathname
    const params = await run(loadParamsOnly(fixture, { "begin_conv.bias": [4], "temb_net.main.0.weight": [4, 3] }))
    expect(Array.from(params["begin_conv.bias"]!.data)).toEqual([0.5, -1.5, 2.0, -0.125])
    expect(Array.from(params["temb_net.main.0.weight"]!.data)).toEqual(Array.from({ length: 12 }, (_, i) => i * 0.25 - 1))
  })

  test("maps names (e.g. DataParallel's module. prefix), drops unmapped ones, widens float64", async () => {
    const path = join(freshDir(), "state_dict.safetensors")
    await run(writeSafetensors(path, {
      "module.conv.weight": { dtype: "F64", shape: [2], data: new Float64Array([0.25, -8]) },
      "module.conv.bias": { dtype: "F32", shape: [1], data: new Float32Array([3]) },
      "optimizer_hint": { dtype: "I64", shape: [1], data: new BigInt64Array([1n]) },
    }))
    const rename = (n: string) => (n.startsWith("module.") ? n.slice("module.".length) : undefined)
    const params = await run(loadParamsOnly(path, { "conv.weight": [2], "conv.bias": [1] }, { rename }))
    expect(params["conv.weight"]!.data).toEqual(new Float32Array([0.25, -8]))
    const error = await failure(loadParamsOnly(path, { "conv.weight": [3], "conv.bias": [1] }, { rename }))
    expect(error._tag === "SafetensorsError" && error.tensor).toBe("conv.weight")
  })

  test("takes params or EMA weights out of one of our checkpoints", async () => {
    const path = join(freshDir(), "ckpt.safetensors")
    const ckpt = checkpointAt(9)
    const ema = Object.fromEntries(Object.entries(ckpt.ema).map(([n, t]) => [n, hostTensor(t.shape, (i) => i * 0.5)]))
    await run(saveCheckpoint(path, { ...ckpt, ema }))
    expectSameBits(await run(loadParamsOnly(path, spec)), ckpt.params)
    expectSameBits(await run(loadParamsOnly(path, spec, { weights: "ema" })), ema)
  })
})

describe("kill -9 during saves", () => {
  // ~21 MB per checkpoint: four groups of 1.31 M float32 values.
  const bigSpec: ParamSpec = { a: [1024, 1024], b: [256, 1024] }
  /** The value every element holds in the checkpoint of `step` (group g): a torn mix of two saves cannot pass. */
  const pattern = (step: number, g: number, i: number): number => step + g * 0.25 + (i % 4096) * 1e-3
  const childSource = `
import { Effect } from ${JSON.stringify(Bun.resolveSync("effect", import.meta.dir))}
import { saveCheckpointTo } from ${JSON.stringify(new URL("../../src/platform/train/checkpoint.ts", import.meta.url).pathname)}
const [dir, first] = [process.argv[2], Number(process.argv[3])]
const spec = ${JSON.stringify(bigSpec)}
const pattern = ${pattern.toString()}
// The pattern repeats every 4096 elements: build one period, then tile it (keeps the child's steps short).
const group = (step, g) => Object.fromEntries(Object.entries(spec).map(([name, shape]) => {
  const data = new Float32Array(shape[0] * shape[1])
  for (let i = 0; i < 4096; i++) data[i] = pattern(step, g, i)
  for (let at = 4096; at < data.length; at *= 2) data.copyWithin(at, 0, Math.min(at, data.length - at))
  return [name, { shape, data }]
}))
console.log("ready")
await new Promise((resume) => process.stdin.once("data", resume)) // "go": start-up is over, saving starts now
for (let step = first; ; step++) {
  const ckpt = { step, params: group(step, 0), ema: group(step, 1), adam: { m: group(step, 2), v: group(step, 3) }, rng: { seed: 1, step, dataCursor: step * 64 }, config: { child: true } }
  const started = performance.now()
  console.log("saving")
  await Effect.runPromise(saveCheckpointTo(dir, ckpt, { keep: 2 }))
  console.log("saved " + (performance.now() - started))
}
`


  /** Every 61st element (the checksums already vouch for each byte; this ties the data to the file's step). */
  const expectPattern = (ckpt: Checkpoint): void => {
    const state = [ckpt.params, ckpt.ema, ckpt.adam.m, ckpt.adam.v]
    state.forEach((group, g) => {
      for (const t of Object.values(group)) {
        let bad = -1
        for (let i = 0; i < t.data.length && bad < 0; i += 61) if (t.data[i] !== Math.fround(pattern(ckpt.step, g, i))) bad = i
        expect(bad).toBe(-1)
      }
    })
    expect(ckpt.rng).toEqual({ seed: 1, step: ckpt.step, dataCursor: ckpt.step * 64 })
  }

  test("after each of 20 kills at random moments, latestCheckpoint returns a valid, loadable checkpoint", async () => {
    const dir = freshDir()
    const script = join(scratch, "save-forever.ts")
    writeFileSync(script, childSource)
    const first: Checkpoint = {
      step: 0,
      ...(() => {
        const group = (g: number): HostParams => Object.fromEntries(Object.entries(bigSpec).map(([n, shape]) => [n, hostTensor(shape, (i) => pattern(0, g, i))]))
        return { params: group(0), ema: group(1), adam: { m: group(2), v: group(3) } }
      })(),
      rng: { seed: 1, step: 0, dataCursor: 0 },
      config: { child: true },
    }
    await run(saveCheckpointTo(dir, first, { keep: 2 }))
    const random = seeded(20261128)
    /** A child that starts up (imports) at once but saves only when told "go", so start-up overlaps our checks. */
    const spawnSaver = (firstStep: number) => {
      const child = Bun.spawn([process.execPath, script, dir, String(firstStep)], { stdin: "pipe", stdout: "pipe", stderr: "inherit" })
      return { child, lines: lineReader(child.stdout) }
    }
    // Kill moments are random in save-relative time (machine load stretches saves 5×, wall-clock delays would
    // then never land inside one): during the 1st or 2nd save, at a uniform fraction of ~1.2 save durations.
    let saveMs = 200
    let previous = 0
    let killedMidWrite = 0
    let progressed = 0
    let next = spawnSaver(1000)
    for (let kill = 1; kill <= 20; kill++) {
      const { child, lines } = next
      expect(await lines.next()).toBe("ready")
      child.stdin.write("go\n")
      child.stdin.flush()
      const saves = random() < 0.5 ? 1 : 2
      for (let seen = 0; seen < saves; ) {
        const line = await lines.next()
        if (line === "saving") seen++
        else if (line.startsWith("saved ")) saveMs = 0.5 * saveMs + 0.5 * Number(line.slice(6))
      }
      await Bun.sleep(random() * 1.2 * saveMs)
      child.kill("SIGKILL")
      await child.exited
      if (kill < 20) next = spawnSaver((kill + 1) * 1000)

      const latest = await run(latestCheckpoint(dir, bigSpec))
      expect(latest.skipped).toEqual([]) // atomic writes: no file under a checkpoint name is ever torn
      expect(latest.found).toBeDefined()
      expect(latest.found!.path).toMatch(/ckpt-\d{8}\.safetensors$/)
      const step = latest.found!.checkpoint.step
      expect(step).toBeGreaterThanOrEqual(previous)
      expectPattern(latest.found!.checkpoint)
      if (step > previous) progressed++
      if (latest.ignoredTemps.length > 0) killedMidWrite++
      previous = step
    }
    // The kills must have landed both during writes and after completed saves for this test to mean anything.
    expect(killedMidWrite).toBeGreaterThan(0)
    expect(progressed).toBeGreaterThan(0)
    // The next save cleans up temp files of the dead writers and rotates down to `keep`.
    const resumed = (await run(latestCheckpoint(dir, bigSpec))).found!.checkpoint
    await run(saveCheckpointTo(dir, { ...resumed, step: resumed.step + 1 }, { keep: 2 }))
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([])
    expect(readdirSync(dir).length).toBe(2)
    console.log(`kill -9: ${killedMidWrite}/20 kills left a temp file; ${progressed}/20 had completed a new save`)
  }, 120_000) // it waits for 1–2 whole saves per kill, and a loaded machine stretches saves several-fold
})
