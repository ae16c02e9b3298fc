/**
 * `sdeflow train | eval | sample` as a user runs them: child processes on a tiny swiss-roll run (an MLP,
 * 30 then 40 steps, small sample grids), checked through their JSON output, files and exit codes.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? "/tmp" }

/** Runs the CLI to completion. */
const cli = (args: string[], extraEnv: Record<string, string> = {}) => {
  const r = Bun.spawnSync([process.execPath, "src/platform/cli/main.ts", ...args], { env: { ...env, ...extraEnv } })
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() }
}

type Event = { _tag: string; step: number; path?: string; resumedFrom?: string; totalSteps?: number; program?: string; done?: number; total?: number }

/** stdout of `--json` as events; throws if any line is not JSON (stdout must hold nothing else). */
const events = (stdout: string): Event[] =>
  stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Event)

/** Steps of the checkpoint files in `<out>/checkpoints`, ascending. */
const checkpointSteps = (out: string): number[] =>
  readdirSync(join(out, "checkpoints"))
    .flatMap((f) => {
      const match = /^ckpt-(\d+)\.safetensors$/.exec(f)
      return match ? [Number(match[1])] : []
    })
    .sort((a, b) => a - b)

let root: string
let run: string
let small: string
let first: ReturnType<typeof cli>

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "sdeflow-cli-"))
  run = join(root, "swissroll")
  // Keep the end-of-run sample grid small (the preset draws 2000 points with 500 steps).
  small = join(root, "small.json")
  writeFileSync(small, JSON.stringify({ sampleSteps: 20, sampleCount: 200, checkpointEvery: 10 }))
  first = cli(["train", "--preset", "swissroll", "--config", small, "--steps", "30", "--out", run, "--json"])
  // A child process compiles its kernels with LLVM on first use: 86 s on a cold Mesa shader cache on a
  // 2-core Zen 1, a few seconds once the disk cache has them.
}, 600_000)

afterAll(() => rmSync(root, { recursive: true, force: true }))

describe("sdeflow train", () => {
  test("--json prints only events, in order Started … Step 1..30 … Checkpointed … Finished", () => {
    expect(first.stderr).not.toContain("invalid")
    expect(first.code).toBe(0)
    const stream = events(first.stdout)
    expect(stream[0]).toMatchObject({ _tag: "Started", step: 0, totalSteps: 30 })
    expect(stream.at(-1)).toMatchObject({ _tag: "Finished", step: 30 })
    expect(stream.filter((e) => e._tag === "Step").map((e) => e.step)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1))
    expect(stream.filter((e) => e._tag === "Checkpointed").map((e) => e.step)).toEqual([10, 20, 30])
    expect(stream.find((e) => e._tag === "Sampled")).toMatchObject({ step: 30, path: join(run, "samples-000030.png") })
    // Compile progress of the training program, before its first step, counting up to its total.
    const compiling = stream.filter((e) => e._tag === "Compiling" && e.program === "training")
    expect(compiling.length).toBeGreaterThan(0)
    expect(stream.indexOf(compiling.at(-1)!)).toBeLessThan(stream.findIndex((e) => e._tag === "Step"))
    expect(compiling.at(-1)).toMatchObject({ done: compiling.at(-1)!.total })
  })

  test("the run folder holds metrics.jsonl, config.json, summary.json, curves.svg and checkpoints/", () => {
    for (const file of ["metrics.jsonl", "config.json", "summary.json", "curves.svg", "samples-000030.png"]) expect(existsSync(join(run, file))).toBe(true)
    const config = JSON.parse(readFileSync(join(run, "config.json"), "utf8"))
    expect(config).toMatchObject({ dataset: "swissroll", model: "mlp", steps: 30, sampleSteps: 20, out: run })
    expect(JSON.parse(readFileSync(join(run, "summary.json"), "utf8")).steps).toBe(30)
    // Every event but compile progress is logged.
    expect(readFileSync(join(run, "metrics.jsonl"), "utf8").trim().split("\n")).toHaveLength(events(first.stdout).filter((e) => e._tag !== "Compiling").length)
    expect(checkpointSteps(run).at(-1)).toBe(30)
  })

  test("running again with --steps 40 (the stored run's config, no --preset) resumes at step 30", () => {
    const r = cli(["train", "--steps", "40", "--out", run, "--json", "--resume"])
    expect(r.code).toBe(0)
    const stream = events(r.stdout)
    expect(stream[0]).toMatchObject({ _tag: "Started", step: 30, totalSteps: 40, resumedFrom: join(run, "checkpoints", "ckpt-00000030.safetensors") })
    expect(stream.filter((e) => e._tag === "Step").map((e) => e.step)).toEqual([31, 32, 33, 34, 35, 36, 37, 38, 39, 40])
    expect(stream.at(-1)).toMatchObject({ _tag: "Finished", step: 40 })
    expect(JSON.parse(readFileSync(join(run, "config.json"), "utf8")).steps).toBe(40)
    // No preset named: the stored run's settings are used, and the command says so (on stderr with --json).
    expect(r.stderr).toContain(`continuing the run stored in ${run} (no --preset given)`)
  }, 600_000)

  test("without a preset the adapter picks one and the command prints which and why (cpu on lavapipe)", () => {
    const out = join(root, "by-adapter")
    // A --config file without "preset": the adapter's preset is the base, the file makes it a tiny 2-D run.
    const tiny = join(root, "tiny-unnamed.json")
    writeFileSync(tiny, JSON.stringify({ dataset: "swissroll", model: "mlp", batch: 512, sampleEvery: 0, checkpointEvery: 0 }))
    const r = cli(["train", "--config", tiny, "--steps", "2", "--out", out])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^preset cpu: \S.* is a CPU adapter \(.*\); --preset gpu\|paper to override$/m)
    expect(JSON.parse(readFileSync(join(out, "config.json"), "utf8"))).toMatchObject({ dataset: "swissroll", lr: 5e-4, steps: 2 })
  }, 600_000)

  test("bad flags exit 2 and name every bad flag, before any device or folder is touched", () => {
    const out = join(root, "never")
    const r = cli(["train", "--preset", "swissroll", "--steps", "-1", "--lr", "abc", "--out", out], { SDEFLOW_FAKE_NO_ADAPTER: "1" })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("--steps -1: expected a value greater than 0")
    expect(r.stderr).toContain("--lr abc: expected number")
    expect(r.stderr).not.toContain("No WebGPU adapter")
    expect(existsSync(out)).toBe(false)
  })

  test("an unknown flag or preset also exits 2; --help exits 0 without opening a device", () => {
    expect(cli(["train", "--stepz", "3"]).code).toBe(2)
    expect(cli(["train", "--preset", "tiny"]).code).toBe(2)
    const help = cli(["train", "--help"], { SDEFLOW_FAKE_NO_ADAPTER: "1" })
    expect(help.code).toBe(0)
    expect(help.stdout).toContain("--resume")
  })

  test("--resume without a checkpoint is a typed error (exit 3) naming the folder", () => {
    const out = join(root, "empty")
    const r = cli(["train", "--preset", "swissroll", "--out", out, "--resume"], { SDEFLOW_FAKE_NO_ADAPTER: "1" })
    expect(r.code).toBe(3)
    expect(r.stderr).toContain(`--resume: no loadable checkpoint in ${join(out, "checkpoints")}`)
  })

  test("a different model is refused for a folder holding checkpoints (exit 2)", () => {
    const r = cli(["train", "--preset", "cpu", "--out", run], { SDEFLOW_FAKE_NO_ADAPTER: "1" })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("holds checkpoints of a different model (dataset:")
  })

  test("SIGTERM during training exits 130 after writing a checkpoint of the last step taken", async () => {
    const out = join(root, "interrupted")
    writeFileSync(join(root, "no-checkpoints.json"), JSON.stringify({ checkpointEvery: 0, sampleEvery: 0 }))
    const child = Bun.spawn([process.execPath, "src/platform/cli/main.ts", "train", "--preset", "swissroll", "--config", join(root, "no-checkpoints.json"), "--steps", "100000", "--out", out, "--json"], {
      env,
      stdout: "pipe",
      stderr: "pipe",
    })
    let text = ""
    const decoder = new TextDecoder()
    const reader = child.stdout.getReader()
    while (!/"_tag":"Step","step":5,/.test(text)) {
      const { value, done } = await reader.read()
      if (done) throw new Error(`training ended before step 5: ${text}`)
      text += decoder.decode(value)
    }
    child.kill("SIGTERM")
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value)
    expect(await child.exited).toBe(130)
    const stream = events(text)
    const last = stream.at(-1)!
    const steps = stream.filter((e) => e._tag === "Step").map((e) => e.step)
    expect(last._tag).toBe("Checkpointed")
    expect(last.step).toBe(steps.at(-1)!)
    expect(checkpointSteps(out)).toEqual([last.step])
  }, 600_000)
})

describe("sdeflow eval and sample on that run", () => {
  test("eval --json reports the ELBO and the probability-flow likelihood in nats at the newest checkpoint", () => {
    const r = cli(["eval", "--out", run, "--samples", "100", "--ode", "--ode-steps", "4", "--json"])
    expect(r.code).toBe(0)
    const report = JSON.parse(r.stdout)
    expect(report).toMatchObject({ step: 40, weights: "ema", dataset: "swissroll", elbo: { samples: 100, unit: "nats" }, ode: { samples: 100, unit: "nats", steps: 4, divergence: "exact" } })
    for (const e of [report.elbo, report.ode]) {
      expect(Number.isFinite(e.mean)).toBe(true)
      expect(e.stderr).toBeGreaterThan(0)
    }
  }, 600_000)

  test("sample --json writes the PNG it reports (default <out>/sample-<solver>-<step>.png) and the energy distance to fresh data", () => {
    const r = cli(["sample", "--out", run, "--count", "100", "--steps", "10", "--solver", "em", "--json"])
    expect(r.code).toBe(0)
    const report = JSON.parse(r.stdout)
    const png = join(run, "sample-em-000040.png")
    expect(report).toMatchObject({ png, step: 40, count: 100, solver: "em", lambda: 0, steps: 10, finiteFraction: 1 })
    expect(report.energyDistance).toBeGreaterThan(0)
    expect([...readFileSync(png).subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
  }, 600_000)

  test("sample flags are checked before the run is loaded: an ODE solver needs λ = 1, counts are positive", () => {
    const noAdapter = { SDEFLOW_FAKE_NO_ADAPTER: "1" }
    const odeWithNoise = cli(["sample", "--out", run, "--solver", "rk4", "--lambda", "0.5"], noAdapter)
    expect(odeWithNoise.code).toBe(2)
    expect(odeWithNoise.stderr).toContain("--solver rk4 integrates the probability-flow ODE only")
    const noSamples = cli(["sample", "--out", run, "--count", "0", "--lambda", "2"], noAdapter)
    expect(noSamples.code).toBe(2)
    expect(noSamples.stderr).toContain("--count 0: expected a value greater than 0")
    expect(noSamples.stderr).toContain("--lambda 2: expected a value between 0 and 1")
  })

  test("eval and sample on a folder without a run exit 3", () => {
    expect(cli(["eval", "--out", join(root, "nothing")]).code).toBe(3)
    expect(cli(["sample", "--out", join(root, "nothing")]).code).toBe(3)
  })
})
