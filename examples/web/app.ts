/**
 * The page: opens WebGPU, loads a model (a checkpoint file, the one the server offers, or one trained in the
 * tab), samples it and animates the paths. Query parameters run it unattended (the headless test does):
 * `?checkpoint=URL&sample=1&seed=7&count=1000&steps=100&solver=em&lambda=0`, `?train=200`. What it did is
 * published on `window.sdeflowPage` as well as shown.
 */
import { closeGpu, openBrowserGpu, type GpuHandle } from "sdeflow/web"
import { modelFromCheckpoint, sample, Trainer, type Model, type SolverName } from "./model.ts"
import { animate, drawLoss } from "./plot.ts"

interface PageState {
  status: "starting" | "ready" | "busy" | "error"
  adapter?: string
  model?: string
  samples?: number[]
  losses?: { step: number; loss: number }[]
  error?: string
}
const page: PageState = { status: "starting" }
;(globalThis as { sdeflowPage?: PageState }).sdeflowPage = page

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
const query = new URLSearchParams(location.search)
const status = (text: string) => ($("status").textContent = text)
const showError = (error: unknown) => {
  const message = error instanceof Error ? error.message : String(error)
  $("error").textContent = message
  Object.assign(page, { status: "error", error: message })
}
/** Runs one user action at a time, its errors shown on the page. */
const action = async (run: () => Promise<void>) => {
  if (page.status === "busy") return
  $("error").textContent = ""
  page.status = "busy"
  try {
    await run()
    page.status = "ready"
  } catch (error) {
    showError(error)
  }
}

let gpu: GpuHandle
let model: Model | undefined
let trainer: Trainer | undefined

const useModel = (m: Model) => {
  model = m
  page.model = m.source
  status(`${page.adapter}\nmodel: ${m.source}`)
}

const loadFrom = async (bytes: Uint8Array, name: string) => useModel(modelFromCheckpoint(bytes, name))

const fetchCheckpoint = async (url: string) => {
  const response = await fetch(url)
  if (!response.ok) throw new Error(`${url}: ${response.status} ${response.statusText} (start the server with --checkpoint <run folder or file>)`)
  await loadFrom(new Uint8Array(await response.arrayBuffer()), url)
}

const runSampling = async () => {
  if (!model) throw new Error("no model yet: load a checkpoint or train one here first")
  const options = {
    lambda: Number($<HTMLInputElement>("lambda").value),
    solver: $<HTMLSelectElement>("solver").value as SolverName,
    steps: Number($<HTMLInputElement>("steps").value),
    count: Number($<HTMLInputElement>("count").value),
    seed: Number($<HTMLInputElement>("seed").value),
    frames: 20,
  }
  status(`${page.adapter}\nmodel: ${model.source}\nsampling ${options.count} points, ${options.steps} steps…`)
  const result = await sample(gpu, model, options)
  page.samples = Array.from(result.x)
  $("info").textContent = `${options.count} points · ${options.steps} steps · ${result.kernelsPerStep} kernel${result.kernelsPerStep === 1 ? "" : "s"} per step · ${result.msPerStep.toFixed(2)} ms per step`
  status(`${page.adapter}\nmodel: ${model.source}`)
  await animate($("plot"), result.frames)
}

const runTraining = async (steps: number) => {
  trainer ??= await Trainer.create(gpu, Number($<HTMLInputElement>("seed").value))
  const losses = (page.losses ??= [])
  const chunk = 50
  for (let done = 0; done < steps; done += chunk) {
    losses.push(await trainer.train(Math.min(chunk, steps - done)))
    drawLoss($("loss"), losses)
    status(`${page.adapter}\ntraining: step ${losses.at(-1)!.step}, loss ${losses.at(-1)!.loss.toFixed(3)}`)
  }
  useModel(await trainer.model())
}

const main = async () => {
  for (const id of ["lambda", "solver", "steps", "count", "seed"]) {
    const value = query.get(id)
    if (value !== null) $<HTMLInputElement>(id).value = value
  }
  $("lambda-value").textContent = $<HTMLInputElement>("lambda").value
  $("lambda").addEventListener("input", () => ($("lambda-value").textContent = $<HTMLInputElement>("lambda").value))
  gpu = await openBrowserGpu()
  addEventListener("pagehide", () => closeGpu(gpu))
  page.adapter = `adapter: ${gpu.adapter.vendor} ${gpu.adapter.architecture} ${gpu.adapter.device} ${gpu.adapter.description}`.replace(/\s+/g, " ").trim()
  status(page.adapter)
  page.status = "ready"

  $("file").addEventListener("change", () => {
    const file = $<HTMLInputElement>("file").files?.[0]
    if (file) void action(async () => loadFrom(new Uint8Array(await file.arrayBuffer()), file.name))
  })
  $("load-example").addEventListener("click", () => void action(() => fetchCheckpoint(query.get("checkpoint") ?? "checkpoint.safetensors")))
  $("train").addEventListener("click", () => void action(() => runTraining(Number($<HTMLInputElement>("train-steps").value))))
  $("sample").addEventListener("click", () => void action(runSampling))

  // Unattended runs (the headless test): each step in order, stopping at the first error.
  const train = query.get("train")
  const checkpoint = query.get("checkpoint")
  await action(async () => {
    if (checkpoint) await fetchCheckpoint(checkpoint)
    if (train) await runTraining(Number(train))
    if (query.get("sample")) await runSampling()
  })
}

main().catch(showError)
