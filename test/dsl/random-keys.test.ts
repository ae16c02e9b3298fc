/**
 * Random keys across programs: the probability-flow evaluator runs two programs per image batch — the
 * dequantisation transform and the Hutchinson probe — and neither may reuse the other's noise.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { trace } from "../../src/compile/compile.ts"
import { normal, rademacher, uniform } from "../../src/ir/tensor.ts"
import type { Node } from "../../src/ir/node.ts"
import { LOGIT_ALPHA } from "../../src/data/image-transforms.ts"
import { flowBatchKeys, flowTransform } from "../../src/train/evaluate.ts"
import { drawProbe } from "../../dsl/likelihood.ts"
import { useGpu } from "../support/backends.ts"
import { correlation } from "../support/correlation.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const gpu = useGpu()


const sampleShape = [3, 8, 8]
const size = 16
const count = size * sampleShape.reduce((a, b) => a * b, 1) // 3072 elements in the batch

/**
 * Batch k of the evaluator on all-zero pixels: the dequantisation noise U (recovered from the logit
 * x = logit(α + (1 − 2α)·U/256)) and the probe, each drawn by the evaluator's own programs and keys.
 */
const batchNoise = async (backend: Parameters<typeof drawProbe>[0], seed: number, k: number) => {
  const keys = flowBatchKeys(seed, k)
  const transform = await flowTransform(backend, sampleShape, size)
  transform.run({ raw: new Float32Array(count) }, keys.dequantise)
  const x = await transform.read("x")
  const noise = Float64Array.from(x, (v) => (256 * (1 / (1 + Math.exp(-v)) - LOGIT_ALPHA)) / (1 - 2 * LOGIT_ALPHA))
  const probeProgram = await drawProbe(backend, [size, ...sampleShape], keys.probeSeed)
  const probe = Array.from(await probeProgram.read("out"))
  transform.destroy()
  probeProgram.destroy()
  return { noise, probe }
}

describe("the flow evaluator's dequantisation noise and Hutchinson probe are independent", () => {
  // Before each call site had its own salt stream, both programs' first draw had salt 0, and batch 0 runs
  // both at (seed, step 0): the probe was sign(½ − U) in all 3072 elements (r = 1).
  test.each([0, 7])("seed %p, batch 0 (CPU oracle): the probe is not sign(½ − U); |r| < 4/√n", async (seed) => {
    const { noise, probe } = await batchNoise("cpu", seed, 0)
    expect(noise.every((u) => u > 0 && u < 1)).toBe(true) // the recovery is right: U ∈ (0, 1)
    const signs = Array.from(noise, (u) => (u < 0.5 ? 1 : -1))
    const agree = signs.filter((s, i) => s === probe[i]).length / count
    const bound = 4 / Math.sqrt(count)
    expect(Math.abs(agree - 0.5), `agreement ${agree}`).toBeLessThan(bound / 2)
    expect(Math.abs(correlation(signs, probe))).toBeLessThan(bound)
    expect(Math.abs(correlation(noise, probe))).toBeLessThan(bound)
  })

  test("both programs give the same bits on WebGPU as on the CPU oracle (named streams survive lowering)", async () => {
    const [onGpu, onCpu] = [await batchNoise(gpu(), 3, 0), await batchNoise("cpu", 3, 0)]
    expect(onGpu.probe).toEqual(onCpu.probe)
    let worst = 0
    onGpu.noise.forEach((u, i) => (worst = Math.max(worst, Math.abs(u - onCpu.noise[i]!))))
    expect(worst).toBeLessThan(1e-3) // f32 logit and its inverse; the CPU side is f64
  }, 60_000)
})

describe("salt streams", () => {
  const saltsOf = (outputs: Record<string, Node>): Record<string, number> =>
    Object.fromEntries(Object.entries(outputs).map(([name, node]) => [name, node.op.kind === "random" ? node.op.salt : Number.NaN]))
  const program = () => ({
    a: normal([4]),
    probe: rademacher([4], { stream: "hutchinsonProbe" }),
    b: uniform([4]),
    dequantise: uniform([4], { stream: "dequantise" }),
    secondProbe: rademacher([4], { stream: "hutchinsonProbe" }),
  })

  test("named streams never share a salt with unnamed draws or with each other; re-tracing gives the same salts", () => {
    const salts = saltsOf(trace(program, {}))
    expect(new Set(Object.values(salts)).size).toBe(5)
    expect(salts.a).toBe(0) // unnamed draws keep their creation order
    expect(salts.b).toBe(1)
    expect(saltsOf(trace(program, {}))).toEqual(salts)
  })

  test("a named stream's salts do not depend on which other draws the program makes", () => {
    const alone = saltsOf(trace(() => ({ probe: rademacher([4], { stream: "hutchinsonProbe" }) }), {}))
    expect(alone.probe).toBe(saltsOf(trace(program, {})).probe!)
  })
})
