/**
 * `fit` and `fitPreset`, the Promise façade of the training loop: a tiny 2-D run resolves to its final
 * weights (those of its last checkpoint) and summary, reports every event, stops on an aborted signal with
 * a checkpoint to resume from, and rejects with typed errors for bad inputs.
 */
import { afterAll, describe, expect, test, setDefaultTimeout } from "bun:test"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { ConfigError, fit, fitPreset, initParams, InvalidOption, latestCheckpoint, ProgramError, TrainFailed, type FitOptions, type TrainEvent } from "../../index.ts"
import { useGpu } from "../support/backends.ts"
import { tinySpec } from "../support/tiny-train.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const gpu = useGpu()
const scratch = mkdtempSync(join(tmpdir(), "sdeflow-fit-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))
let runs = 0
const freshOut = () => join(scratch, `run${runs++}`)

const spec = tinySpec()
const network = spec.network
const initialParams = initParams(network, 0)
const options = (out: string): FitOptions => ({ spec, steps: 12, lr: 1e-2, seed: 0, out, initialParams, config: { test: "fit" } })
const sizes = Object.fromEntries(Object.entries(network.params).map(([name, d]) => [name, d.shape.reduce((a, b) => a * b, 1)]))
const shapes = Object.fromEntries(Object.entries(network.params).map(([name, d]) => [name, d.shape]))

/** What a rejected promise rejected with. */
const rejection = (promise: Promise<unknown>): Promise<unknown> => promise.then(() => expect.unreachable("resolved"), (e: unknown) => e)

describe("fit", () => {
  test("resolves with the final parameters and EMA (those of the last checkpoint) and the summary, reporting every step", async () => {
    const out = freshOut()
    const events: TrainEvent[] = []
    const result = await fit({ ...options(out), backend: gpu(), onEvent: (e) => events.push(e) })

    expect(Object.keys(result.params)).toEqual(Object.keys(sizes))
    for (const [name, size] of Object.entries(sizes)) {
      expect(result.params[name]).toBeInstanceOf(Float32Array)
      expect(result.params[name]!.length).toBe(size)
      expect(result.ema[name]!.length).toBe(size)
    }
    const changed = (values: Record<string, Float32Array>) => Object.keys(sizes).filter((name) => values[name]!.some((v, i) => v !== initialParams[name]![i]))
    expect(changed(result.params)).toEqual(Object.keys(sizes))
    expect(changed(result.ema).length).toBeGreaterThan(0)

    const steps = events.filter((e) => e._tag === "Step")
    expect(steps.map((e) => e.step)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1))
    expect(events[0]!._tag).toBe("Started")
    expect(events.at(-1)!._tag).toBe("Finished")
    expect(result.summary).toEqual(JSON.parse(readFileSync(join(out, "summary.json"), "utf8")))
    expect(result.summary.steps).toBe(12)
    expect(result.summary.finalLoss).toBe(steps.at(-1)!._tag === "Step" ? steps.at(-1)!.loss : NaN)

    const saved = (await Effect.runPromise(latestCheckpoint(join(out, "checkpoints"), shapes))).found!.checkpoint
    expect(saved.step).toBe(12)
    for (const name of Object.keys(sizes)) {
      expect(result.params[name]).toEqual(saved.params[name]!.data)
      expect(result.ema[name]).toEqual(saved.ema[name]!.data)
    }
  })

  test("an aborted signal stops the run with a checkpoint and rejects with its reason; the same call resumes there", async () => {
    const out = freshOut()
    const stop = new AbortController()
    const reason = new Error("stop here")
    const stopped = await rejection(fit({ ...options(out), backend: gpu(), signal: stop.signal, onEvent: (e) => e._tag === "Step" && e.step === 3 && stop.abort(reason) }))
    expect(stopped).toBe(reason)
    const saved = (await Effect.runPromise(latestCheckpoint(join(out, "checkpoints"), shapes))).found!.checkpoint
    expect(saved.step).toBeGreaterThanOrEqual(3)
    expect(saved.step).toBeLessThan(12)

    const events: TrainEvent[] = []
    const resumed = await fit({ ...options(out), backend: gpu(), onEvent: (e) => events.push(e) })
    expect(events[0]).toMatchObject({ _tag: "Started", step: saved.step })
    expect(events.filter((e) => e._tag === "Step")[0]).toMatchObject({ step: saved.step + 1 })
    expect(resumed.summary.steps).toBe(12)
  })

  test("without a backend, trains on a device it opens for the run", async () => {
    const result = await fit({ ...options(freshOut()), steps: 2 })
    expect(result.summary.steps).toBe(2)
    expect(result.params["main.0.weight"]).not.toEqual(initialParams["main.0.weight"]!)
  })

  test("rejects with TrainFailed, its cause the InvalidOption, for a learning rate or step count out of range", async () => {
    const lr = await rejection(fit({ ...options(freshOut()), lr: 0 }))
    expect(lr).toBeInstanceOf(TrainFailed)
    expect((lr as TrainFailed).cause).toBeInstanceOf(InvalidOption)
    expect((lr as TrainFailed).cause).toMatchObject({ option: "lr", value: 0 })

    const steps = await rejection(fit({ ...options(freshOut()), steps: 2.5, backend: "cpu" }))
    expect((steps as TrainFailed).cause).toMatchObject({ _tag: "InvalidOption", option: "steps" })
  })

  test("rejects with TrainFailed, its cause the ProgramError naming the parameter, for initial parameters that do not fit", async () => {
    const { "main.0.weight": _dropped, ...incomplete } = initialParams
    expect(_dropped).toBeDefined()
    const error = await rejection(fit({ ...options(freshOut()), initialParams: incomplete, backend: "cpu" }))
    expect(error).toBeInstanceOf(TrainFailed)
    expect((error as TrainFailed).cause).toBeInstanceOf(ProgramError)
    expect((error as TrainFailed).message).toContain('"main.0.weight"')
  })
})

describe("fitPreset", () => {
  test("runs a preset with overrides to completion and resolves to its network's weights", async () => {
    const out = freshOut()
    const steps: number[] = []
    const result = await fitPreset("swissroll", { steps: 3, batch: 16, hidden: [8], sampleEvery: 0, checkpointEvery: 0, out }, { backend: gpu(), onEvent: (e) => e._tag === "Step" && steps.push(e.step) })
    expect(steps).toEqual([1, 2, 3])
    expect(Object.fromEntries(Object.entries(result.ema).map(([name, v]) => [name, v.length]))).toEqual({
      "main.0.weight": 8 * 3, "main.0.bias": 8, "main.2.weight": 2 * 8, "main.2.bias": 2,
    })
    expect(result.summary.steps).toBe(3)
  })

  test("rejects with ConfigError naming every bad key, before any training", async () => {
    const out = freshOut()
    const error = await rejection(fitPreset("swissroll", { steps: 0, batch: -1, out }, { backend: "cpu" }))
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).issues.join("\n")).toMatch(/steps[\s\S]*batch|batch[\s\S]*steps/)
  })
})
