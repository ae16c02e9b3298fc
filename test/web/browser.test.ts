/**
 * The web example in a real browser: Debian's Chromium, headless, WebGPU on SwiftShader (its own Dawn and
 * Tint — a second WebGPU implementation besides Bun's Dawn on lavapipe). The page samples 1 000 points from a
 * fixed checkpoint and seed, and they equal this process's samples of the same model; a short training run in
 * the tab lowers the loss; a bad checkpoint and a browser without WebGPU are shown to the user as text.
 */
import { afterAll, beforeAll, expect, test, setDefaultTimeout } from "bun:test"
import { Effect } from "effect"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { chromium, type Browser, type Page } from "playwright-core"
import { initParams } from "../../src/nn/init.ts"
import { mlp } from "../../src/nn/mlp.ts"
import { compile } from "../../src/compile/compile.ts"
import { toySample } from "../../src/data/toy.ts"
import { energyDistance } from "../../src/data/energy-distance.ts"
import { vp } from "../../dsl/library/index.ts"
import { networkFor } from "../../src/train/model-for.ts"
import { presets, type TrainConfig } from "../../src/train/config.ts"
import { saveCheckpoint } from "../../src/platform/train/checkpoint.ts"
import { modelFromCheckpoint, sample } from "../../examples/web/model.ts"
import { useGpu } from "../support/backends.ts"

setDefaultTimeout(300_000)
const gpu = useGpu()

const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium"
// CI installs Chromium (.ci/run); elsewhere the browser tests run where it is installed.
const run = existsSync(executablePath) || process.env.CI ? test : test.skip
/** As the machine's probe starts it: headless, no sandbox as root, nothing reaching the network. */
const flags = ["--no-sandbox", "--disable-gpu-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]

const dir = mkdtempSync(join(tmpdir(), "sdeflow-web-"))
const checkpointPath = join(dir, "ckpt-00000000.safetensors")
const config: TrainConfig = { ...presets.swissroll, hidden: [32, 32] }
let server: ReturnType<typeof Bun.spawn> | undefined
let url = ""
let browser: Browser | undefined

beforeAll(async () => {
  if (!existsSync(executablePath) && !process.env.CI) return
  const network = networkFor(config)
  const initial = initParams(network, 3)
  const host = (data: (name: string) => Float32Array) => Object.fromEntries(Object.entries(network.params).map(([n, d]) => [n, { shape: [...d.shape], data: data(n) }]))
  const [params, zeros] = [host((n) => initial[n]!), host((n) => new Float32Array(initial[n]!.length))]
  await Effect.runPromise(saveCheckpoint(checkpointPath, { step: 0, params, ema: params, adam: { m: zeros, v: zeros }, rng: {}, config }))
  server = Bun.spawn([process.execPath, join(import.meta.dir, "../../examples/web/serve.ts"), "--port", "0", "--checkpoint", checkpointPath], { stdout: "pipe", stderr: "inherit" })
  const reader = (server.stdout as ReadableStream<Uint8Array>).getReader()
  let printed = ""
  while (!/https?:\/\/\S+/.test(printed)) {
    const { value, done } = await reader.read()
    if (done) throw new Error(`serve.ts exited before printing its URL: ${printed}`)
    printed += new TextDecoder().decode(value)
  }
  url = printed.match(/https?:\/\/\S+/)![0]!.replace(/\/$/, "")
  browser = await chromium.launch({ executablePath, args: [...flags, "--enable-unsafe-webgpu"] })
})

afterAll(async () => {
  await browser?.close()
  server?.kill()
  rmSync(dir, { recursive: true, force: true })
})

/** Swiss-roll data drawn on this process's device (a seed of its own). */
const drawData = async (n: number): Promise<Float32Array> => {
  using program = await compile(() => toySample("swissroll", n), {}, { backend: gpu() })
  program.run({}, { seed: 99 })
  return program.read("out", "f32")
}

interface PageState {
  status: string
  adapter?: string
  samples?: number[]
  losses?: { step: number; loss: number }[]
  error?: string
}

/** Opens the page with `query` and waits until it has finished its unattended run (or failed). */
const visit = async (page: Page, query: string): Promise<PageState> => {
  await page.goto(`${url}/?${query}`)
  await page.waitForFunction(() => {
    const s = (globalThis as { sdeflowPage?: PageState }).sdeflowPage
    return s && (s.status === "ready" || s.status === "error")
  }, undefined, { timeout: 240_000 })
  return page.evaluate(() => (globalThis as unknown as { sdeflowPage: PageState }).sdeflowPage)
}

run("1 000 samples from a fixed checkpoint and seed equal the Bun/Dawn run's, within the oracle tolerance", async () => {
  const page = await browser!.newPage()
  const query = "checkpoint=/checkpoint.safetensors&sample=1&seed=7&count=1000&steps=50&solver=em&lambda=0"
  const state = await visit(page, query)
  expect(state.error).toBeUndefined()
  expect(state.adapter).toContain("swiftshader")
  const model = modelFromCheckpoint(new Uint8Array(await Bun.file(checkpointPath).arrayBuffer()), "fixture")
  const here = await sample(gpu(), model, { lambda: 0, solver: "em", steps: 50, count: 1000, seed: 7, frames: 20 })
  const there = state.samples!
  expect(there.length).toBe(2000)
  // As WebGPU is held to the CPU oracle elsewhere (solve's tests: 1e-4 relative). Both implementations run
  // the prelude's own sin/cos: WGSL's may differ by 2^-11, and SwiftShader's nearly do (docs/design.md).
  let worst = 0
  here.x.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - there[i]!) / (1 + Math.abs(v)))))
  console.log(`browser vs Bun: worst relative difference ${worst.toExponential(2)} over 1 000 points`)
  expect(worst).toBeLessThan(1e-4)
  // The same seed gives the same points; another gives others (the comparison can fail).
  const other = await sample(gpu(), model, { lambda: 0, solver: "em", steps: 50, count: 1000, seed: 8, frames: 20 })
  expect(Math.max(...Array.from(other.x, (v, i) => Math.abs(v - there[i]!)))).toBeGreaterThan(0.1)
  await page.close()
})

run("a short training run in the tab lowers the loss, then samples the model it trained", async () => {
  const page = await browser!.newPage({ viewport: { width: 1100, height: 760 } })
  // The README's picture trains longer: SDEFLOW_WEB_SCREENSHOT=docs/web-example.png bun test test/web
  const steps = process.env.SDEFLOW_WEB_SCREENSHOT ? 2000 : 600
  const state = await visit(page, `train=${steps}&seed=1&sample=1&steps=200&count=1000`)
  expect(state.error).toBeUndefined()
  const losses = state.losses!.map((l) => l.loss)
  expect(losses.length).toBe(steps / 50)
  // Single-batch losses are noisy: the later half's mean against the first chunk's.
  const later = losses.slice(losses.length / 2)
  const [first, laterMean] = [losses[0]!, later.reduce((a, b) => a + b, 0) / later.length]
  // What training is for: the tab's samples are closer to the data than the untrained model's.
  const data = await drawData(1000)
  const network = mlp({ dataDim: 2, hidden: [128, 128, 128] })
  const untrainedModel = { network, sde: vp(), weights: initParams(network, 1), source: "untrained" }
  const untrainedSamples = (await sample(gpu(), untrainedModel, { lambda: 0, solver: "em", steps: 200, count: 1000, seed: 1, frames: 2 })).x
  const [trained, untrained] = [energyDistance(data, Float32Array.from(state.samples!), 2), energyDistance(data, untrainedSamples, 2)]
  console.log(`in-tab training: loss ${first.toFixed(3)} at step 50 → ${laterMean.toFixed(3)} (mean of steps ${steps / 2}–${steps}); energy distance to the data ${untrained.toFixed(4)} untrained → ${trained.toFixed(4)}`)
  expect(laterMean).toBeLessThan(first)
  expect(trained).toBeLessThan(untrained / 4)
  expect(await page.textContent("#info")).toMatch(/kernels? per step · [\d.]+ ms per step/)
  await page.screenshot({ path: process.env.SDEFLOW_WEB_SCREENSHOT ?? join(dir, "page.png") })
  await page.close()
})

run("a bad checkpoint file is reported on the page, naming what is wrong", async () => {
  const page = await browser!.newPage()
  const missing = await visit(page, "checkpoint=/nothing.safetensors")
  expect(missing.error).toContain("404")
  expect(await page.textContent("#error")).toContain("404")
  const garbage = `data:application/octet-stream;base64,${Buffer.from("not a safetensors file at all").toString("base64")}`
  const bad = await visit(page, `checkpoint=${encodeURIComponent(garbage)}`)
  expect(bad.status).toBe("error")
  expect(await page.textContent("#error")).toContain("header")
  await page.close()
})

run("a browser that offers no WebGPU adapter is told so on the page", async () => {
  const plain = await chromium.launch({ executablePath, args: flags })
  try {
    const page = await plain.newPage()
    const state = await visit(page, "")
    expect(state.status).toBe("error")
    expect(await page.textContent("#error")).toContain("no WebGPU adapter")
  } finally {
    await plain.close()
  }
})
