/**
 * The preset a run gets when none is named: `cpu` on adapters that run shaders on the CPU, `gpu` on GPUs,
 * decided from the adapter summary alone (no device needed), and how `sdeflow train` layers it: a named
 * preset always wins, and without one the adapter's preset sets the base and the default folder.
 */
import { describe, expect, test } from "bun:test"
import { Effect, Option } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { resolveTrainConfig, type TrainFlags } from "../../src/platform/cli/train.ts"
import { presets } from "../../src/train/config.ts"
import { presetFor } from "../../src/train/preset-for.ts"
import type { AdapterSummary } from "../../src/runtime/gpu.ts"

const adapter = (fields: Partial<AdapterSummary>): AdapterSummary => ({
  vendor: "",
  architecture: "",
  device: "",
  description: "",
  isFallbackAdapter: false,
  subgroupMinSize: 0,
  ...fields,
})

/** What this machine's lavapipe reports (`sdeflow doctor`). */
const lavapipe = adapter({ vendor: "mesa", architecture: "software", device: "llvmpipe-llvm-15-0-6-256-bits", description: "llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1" })

const cpuAdapters: [string, AdapterSummary][] = [
  ["lavapipe (llvmpipe)", lavapipe],
  ["SwiftShader, known by name only", adapter({ vendor: "google", description: "SwiftShader Device (Subzero)" })],
  ["a fallback adapter with an unknown name", adapter({ vendor: "microsoft", description: "Microsoft Basic Render Driver", isFallbackAdapter: true })],
  ["an adapter reporting the software architecture", adapter({ vendor: "acme", architecture: "software", description: "Acme Soft Renderer" })],
]

const gpuAdapters: [string, AdapterSummary][] = [
  ["a discrete NVIDIA GPU", adapter({ vendor: "nvidia", architecture: "ampere", description: "NVIDIA GeForce RTX 3060", subgroupMinSize: 32 })],
  ["an integrated AMD GPU (RADV)", adapter({ vendor: "amd", architecture: "rdna-2", description: "AMD Radeon Graphics (RADV REMBRANDT)", subgroupMinSize: 32 })],
  ["an Apple GPU", adapter({ vendor: "apple", architecture: "metal-3", description: "Apple M2" })],
  ["a GPU that reports nothing", adapter({})],
]

describe("presetFor", () => {
  test.each(cpuAdapters)("%s → cpu", (_, summary) => {
    const choice = presetFor(summary)
    expect(choice.preset).toBe("cpu")
    expect(choice.reason).toContain("is a CPU adapter")
    expect(choice.reason).toContain("--preset gpu|paper to override")
  })

  test.each(gpuAdapters)("%s → gpu", (_, summary) => {
    const choice = presetFor(summary)
    expect(choice.preset).toBe("gpu")
    expect(choice.reason).toContain("is a GPU")
    expect(choice.reason).toContain("--preset cpu|paper to override")
  })

  test("the reason names the adapter without Mesa's version, and what it reports", () => {
    expect(presetFor(lavapipe).reason).toBe("llvmpipe is a CPU adapter (mesa, software); --preset gpu|paper to override")
    expect(presetFor(gpuAdapters[0]![1]).reason).toMatch(/^NVIDIA GeForce RTX 3060 is a GPU \(nvidia, ampere\); /)
    expect(presetFor(adapter({})).reason).toMatch(/^this adapter is a GPU \(no vendor or architecture reported\); /)
  })
})

describe("the gpu preset", () => {
  test("is the paper's UNet family at half width, its own folder; the paper preset is unchanged", () => {
    const { gpu, paper } = presets
    expect({ ch: gpu.ch, chMult: gpu.chMult, numResBlocks: gpu.numResBlocks, attnResolutions: gpu.attnResolutions }).toEqual({
      ch: paper.ch / 2,
      chMult: paper.chMult,
      numResBlocks: paper.numResBlocks,
      attnResolutions: paper.attnResolutions,
    })
    expect(gpu).toMatchObject({ dataset: "cifar10", sde: "vp", model: "unet", steps: 2000, batch: 64, out: "runs/vp-cifar-gpu" })
    // Evaluation, sampling and checkpoints all happen within the run.
    for (const every of [gpu.evalEvery, gpu.sampleEvery, gpu.checkpointEvery]) expect(every).toBeGreaterThan(0)
    expect(gpu.steps % gpu.sampleEvery).toBe(0)
    expect(gpu.evalSamples).toBeGreaterThanOrEqual(gpu.batch)
    expect(paper).toMatchObject({ ch: 128, chMult: [1, 2, 2, 2], numResBlocks: 2, steps: 100_000, batch: 128, lr: 1e-4, emaDecay: 0.9999, out: "runs/vp-cifar-paper" })
  })
})

/** `sdeflow train`'s parsed flags: none given unless listed. */
const flags = (given: Partial<TrainFlags> = {}): TrainFlags => ({
  preset: Option.none(),
  steps: Option.none(),
  batch: Option.none(),
  lr: Option.none(),
  debias: Option.none(),
  seed: Option.none(),
  out: Option.none(),
  resume: false,
  json: false,
  config: Option.none(),
  ...given,
})

/** Resolves in an empty working folder, so no run stored under the default `runs/…` folders is inherited. */
const resolveIn = async (given: Partial<TrainFlags>, fallback: "cpu" | "gpu") => {
  const here = process.cwd()
  const empty = mkdtempSync(join(tmpdir(), "sdeflow-preset-"))
  process.chdir(empty)
  try {
    return await Effect.runPromise(resolveTrainConfig(flags(given), fallback))
  } finally {
    process.chdir(here)
    rmSync(empty, { recursive: true, force: true })
  }
}

describe("sdeflow train's configuration without --preset", () => {
  test("the adapter's preset is the base, and sets the default folder", async () => {
    expect(await resolveIn({ steps: Option.some("7") }, "gpu")).toEqual({ ...presets.gpu, steps: 7 })
    expect(await resolveIn({ steps: Option.some("7") }, "cpu")).toEqual({ ...presets.cpu, steps: 7 })
  })

  test("a named preset wins over the adapter's", async () => {
    expect(await resolveIn({ preset: Option.some("paper") }, "cpu")).toEqual(presets.paper)
    expect(await resolveIn({ preset: Option.some("cpu") }, "gpu")).toEqual(presets.cpu)
  })
})
