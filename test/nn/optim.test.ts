import { describe, expect, test, setDefaultTimeout } from "bun:test"
import fc from "fast-check"
import { compile, programOf, type InputSpec } from "../../src/compile/compile.ts"
import { grad } from "../../src/ir/autodiff.ts"
import { ProgramError } from "../../src/ir/errors.ts"
import { input, type Tensor } from "../../src/ir/tensor.ts"
import type { ParamSpec } from "../../src/nn/module.ts"
import { adamStep, optimizerState, type HostParams, type ParamTensors } from "../../src/nn/optim.ts"
import { clipByGlobalNorm } from "../../src/nn/optim-clip.ts"
import { emaUpdate } from "../../src/nn/optim-ema.ts"
import { warmupLr, warmupLrAt } from "../../src/nn/optim-warmup.ts"
import { withGpu } from "../../src/platform/bun.ts"
import type { Executable } from "../../src/runtime/executable.ts"
import type { GpuHandle } from "../../src/runtime/gpu.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

// ---------------------------------------------------------------------------------------------------
// A small quadratic: loss = ½ Σ a ⊙ (p − c)², with a different curvature per element.
// ---------------------------------------------------------------------------------------------------

const spec: ParamSpec = { w: [3, 2], b: [2] }
const names = Object.keys(spec)
const curvature: Record<string, number[]> = { w: [1, 4, 0.5, 9, 2, 0.1], b: [3, 0.25] }
const centre: Record<string, number[]> = { w: [1, -2, 0.5, 3, -1, 2], b: [-0.5, 1.5] }
const initial: HostParams = {
  w: { shape: [3, 2], data: Float32Array.from([0.1, 0.2, -0.3, 0.4, 0.5, -0.6]) },
  b: { shape: [2], data: Float32Array.from([0.25, -0.75]) },
}

/** Program input specs for the state groups `groups`, named `<group>/<param>`, plus scalar uniforms. */
const stateSpecs = (groups: readonly string[], scalars: readonly string[]): Record<string, InputSpec> => ({
  ...Object.fromEntries(groups.flatMap((g) => names.map((n) => [`${g}/${n}`, spec[n]!]))),
  ...Object.fromEntries(scalars.map((s) => [s, []])),
})
const group = (inputs: Record<string, Tensor>, g: string): ParamTensors => Object.fromEntries(names.map((n) => [n, inputs[`${g}/${n}`]!]))
const named = (g: string, tensors: Record<string, Tensor>) => Object.fromEntries(names.map((n) => [`${g}/${n}`, tensors[n]!]))

/** The IR has no array constants: centres and curvatures enter as program inputs `centre/*`, `curvature/*`. */
const quadraticLoss = (params: ParamTensors, centres: ParamTensors, curvatures: ParamTensors): Tensor =>
  names
    .map((n) => params[n]!.sub(centres[n]!).square().mul(curvatures[n]!).sum())
    .reduce((a, b) => a.add(b))
    .mul(0.5)
const constants = Object.fromEntries(names.flatMap((n) => [[`centre/${n}`, centre[n]!], [`curvature/${n}`, curvature[n]!]]))

// ---------------------------------------------------------------------------------------------------
// The float64 reference, written in the textbook form (bias-corrected moments), independent of the code.
// ---------------------------------------------------------------------------------------------------

interface ReferenceOptions {
  readonly lr: number
  readonly warmup?: number
  readonly maxNorm?: number
  readonly emaDecay?: number
}

const referenceRun = (steps: number, o: ReferenceOptions) => {
  const p = Object.fromEntries(names.map((n) => [n, Array.from(initial[n]!.data)]))
  const m = Object.fromEntries(names.map((n) => [n, p[n]!.map(() => 0)]))
  const v = Object.fromEntries(names.map((n) => [n, p[n]!.map(() => 0)]))
  const ema = Object.fromEntries(names.map((n) => [n, [...p[n]!]]))
  const losses: number[] = []
  for (let t = 1; t <= steps; t++) {
    let loss = 0
    const g = Object.fromEntries(names.map((n) => [n, p[n]!.map((x, i) => curvature[n]![i]! * (x - centre[n]![i]!))]))
    for (const n of names) p[n]!.forEach((x, i) => (loss += 0.5 * curvature[n]![i]! * (x - centre[n]![i]!) ** 2))
    losses.push(loss)
    if (o.maxNorm !== undefined) {
      const norm = Math.sqrt(names.reduce((s, n) => s + g[n]!.reduce((a, x) => a + x * x, 0), 0))
      const scale = Math.min(1, o.maxNorm / (norm + 1e-6))
      for (const n of names) g[n] = g[n]!.map((x) => x * scale)
    }
    const lr = o.warmup === undefined ? o.lr : o.lr * Math.min(1, t / o.warmup)
    for (const n of names)
      for (let i = 0; i < p[n]!.length; i++) {
        const gi = g[n]![i]!
        m[n]![i] = 0.9 * m[n]![i]! + 0.1 * gi
        v[n]![i] = 0.999 * v[n]![i]! + 0.001 * gi * gi
        const mHat = m[n]![i]! / (1 - 0.9 ** t)
        const vHat = v[n]![i]! / (1 - 0.999 ** t)
        p[n]![i] = p[n]![i]! - (lr * mHat) / (Math.sqrt(vHat) + 1e-8)
        if (o.emaDecay !== undefined) ema[n]![i] = o.emaDecay * ema[n]![i]! + (1 - o.emaDecay) * p[n]![i]!
      }
  }
  return { p, m, v, ema, losses }
}

// ---------------------------------------------------------------------------------------------------
// The compiled training update: loss, grads, (clip), (warm-up), Adam, (EMA) — fed back from its outputs.
// ---------------------------------------------------------------------------------------------------

/**
 * Hyper-parameters enter either as numbers (float32 constants of the program: PyTorch's defaults, as users
 * write them) or as scalar uniforms, which the float64 oracle keeps in float64 — needed for a 1e-12 match.
 */
type Hyper = "constants" | "uniforms"
const hyperUniforms = ["beta1", "beta2", "eps", "maxNorm", "emaDecay"]
const hyperValues = (o: ReferenceOptions) => ({ beta1: 0.9, beta2: 0.999, eps: 1e-8, maxNorm: o.maxNorm ?? 0, emaDecay: o.emaDecay ?? 0 })

const trainingUpdate = (o: ReferenceOptions, hyper: Hyper) => (inputs: Record<string, Tensor>) => {
  const h = (name: keyof ReturnType<typeof hyperValues>) => (hyper === "uniforms" ? inputs[name]! : hyperValues(o)[name])
  const params = group(inputs, "params")
  const loss = quadraticLoss(params, group(inputs, "centre"), group(inputs, "curvature"))
  const raw = grad(loss, names.map((n) => params[n]!))
  let grads: ParamTensors = Object.fromEntries(names.map((n, i) => [n, raw[i]!]))
  if (o.maxNorm !== undefined) grads = clipByGlobalNorm(grads, h("maxNorm")).grads
  const lr = o.warmup === undefined ? inputs.lr! : warmupLr(inputs.lr!, inputs.step!, o.warmup)
  const adam = hyper === "uniforms" ? { beta1: h("beta1"), beta2: h("beta2"), eps: h("eps") } : {}
  const next = adamStep(params, grads, group(inputs, "m"), group(inputs, "v"), { lr, step: inputs.step!, ...adam })
  const outputs: Record<string, Tensor> = { loss, ...named("params", next.params), ...named("m", next.m), ...named("v", next.v) }
  if (o.emaDecay !== undefined) Object.assign(outputs, named("ema", emaUpdate(group(inputs, "ema"), next.params, h("emaDecay"))))
  return outputs
}

const trainingSpecs = (o: ReferenceOptions, hyper: Hyper) => ({
  ...stateSpecs(o.emaDecay === undefined ? ["params", "m", "v"] : ["params", "m", "v", "ema"], ["lr", "step"]),
  ...stateSpecs(["centre", "curvature"], hyper === "uniforms" ? hyperUniforms : []),
})

const compileTraining = (o: ReferenceOptions, hyper: Hyper, backend: GpuHandle | "cpu") => compile(trainingUpdate(o, hyper), trainingSpecs(o, hyper), { backend })

/** Runs `steps` updates; the first from host state, every later one from the previous run's device outputs. */
const runTraining = async (exe: Executable, steps: number, o: ReferenceOptions) => {
  const state = optimizerState(initial)
  const groups = o.emaDecay === undefined ? ["params", "m", "v"] : ["params", "m", "v", "ema"]
  const host: Record<string, HostParams> = { params: initial, m: state.m, v: state.v, ema: state.ema }
  const losses: number[] = []
  for (let t = 1; t <= steps; t++) {
    const carried = Object.fromEntries(
      groups.flatMap((g) => names.map((n) => [`${g}/${n}`, t === 1 ? host[g]![n]!.data : exe.output(`${g}/${n}`)])),
    )
    const hyper = Object.fromEntries(Object.entries(hyperValues(o)).filter(([name]) => exe.program.uniforms.some((u) => u.name === name)))
    exe.run({ ...carried, ...constants, ...hyper, lr: o.lr, step: t })
    losses.push((await exe.read("loss"))[0]!)
  }
  await exe.check()
  const read = async (g: string) => Object.fromEntries(await Promise.all(names.map(async (n) => [n, Array.from(await exe.read(`${g}/${n}`))] as const)))
  return { p: await read("params"), m: await read("m"), v: await read("v"), ema: o.emaDecay === undefined ? undefined : await read("ema"), losses }
}

const maxDifference = (a: Record<string, number[]>, b: Record<string, number[]>): number =>
  Math.max(...names.flatMap((n) => a[n]!.map((x, i) => Math.abs(x - b[n]![i]!))))

// ---------------------------------------------------------------------------------------------------

describe("Adam", () => {
  const adamOnly: ReferenceOptions = { lr: 1e-3 }

  test("matches a float64 reference over 10 steps on the CPU oracle to 1e-12", async () => {
    const exe = await compileTraining(adamOnly, "uniforms", "cpu")
    const got = await runTraining(exe, 10, adamOnly)
    const want = referenceRun(10, adamOnly)
    // Ten steps at lr 1e-3 move each parameter by ~1e-2: the comparison is not dominated by the start.
    expect(maxDifference(want.p, Object.fromEntries(names.map((n) => [n, Array.from(initial[n]!.data)])))).toBeGreaterThan(5e-3)
    expect(maxDifference(got.p, want.p)).toBeLessThan(1e-12)
    expect(maxDifference(got.m, want.m)).toBeLessThan(1e-12)
    expect(maxDifference(got.v, want.v)).toBeLessThan(1e-12)
    got.losses.forEach((l, i) => expect(l).toBeCloseTo(want.losses[i]!, 12))
  })

  test("matches the float64 reference over 10 steps on WebGPU to 1e-5, with PyTorch's defaults as constants", async () => {
    await withGpu(async (gpu) => {
      const exe = await compileTraining(adamOnly, "constants", gpu)
      const got = await runTraining(exe, 10, adamOnly)
      const want = referenceRun(10, adamOnly)
      expect(maxDifference(got.p, want.p)).toBeLessThan(1e-5)
      expect(maxDifference(got.m, want.m)).toBeLessThan(1e-5)
      expect(maxDifference(got.v, want.v)).toBeLessThan(1e-5)
      exe.destroy()
    })
  })

  test("minimizes an ill-conditioned convex quadratic (curvatures 0.1…9) to its centre", async () => {
    const o: ReferenceOptions = { lr: 0.05 }
    const exe = await compileTraining(o, "constants", "cpu")
    const got = await runTraining(exe, 600, o)
    expect(got.losses[0]!).toBeGreaterThan(10)
    expect(got.losses.at(-1)!).toBeLessThan(1e-4)
    expect(maxDifference(got.p, centre)).toBeLessThan(2e-2)
  })

  test("an update is one kernel per parameter writing its new value, m and v together (sibling outputs), no intermediates", () => {
    const sizes: ParamSpec = { w: [4, 3], b: [3], gain: [2, 2, 2] }
    const groupOf = (inputs: Record<string, Tensor>, g: string) => Object.fromEntries(Object.keys(sizes).map((n) => [n, inputs[`${g}/${n}`]!]))
    const specs = {
      ...Object.fromEntries(["params", "grads", "m", "v"].flatMap((g) => Object.entries(sizes).map(([n, s]) => [`${g}/${n}`, s]))),
      lr: [],
      step: [],
    }
    const update = (clip: boolean) => (inputs: Record<string, Tensor>) => {
      const grads = clip ? clipByGlobalNorm(groupOf(inputs, "grads"), 1).grads : groupOf(inputs, "grads")
      const next = adamStep(groupOf(inputs, "params"), grads, groupOf(inputs, "m"), groupOf(inputs, "v"), { lr: inputs.lr!, step: inputs.step! })
      return { ...prefixed("params", next.params), ...prefixed("m", next.m), ...prefixed("v", next.v) }
    }
    const plain = programOf(update(false), specs)
    expect(plain.kernels.length).toBe(3)
    expect(plain.kernels.every((k) => k.siblings.length === 2)).toBe(true)
    const written = plain.kernels.flatMap((k) => [k.write, ...k.siblings.map((s) => s.write)])
    expect(new Set(written)).toEqual(new Set(plain.outputs.map((o) => o.slot)))
    // Clipping adds exactly one kernel: every per-tensor Σg² reduction fuses into a single norm kernel.
    const clipped = programOf(update(true), specs)
    expect(clipped.kernels.length).toBe(3 + 1)
    expect(clipped.kernels.filter((k) => k.ops.includes("sum")).length).toBe(1)
  })

  test("names a parameter that has no gradient", () => {
    const p = { w: input("w", [2]), b: input("b", [1]) }
    const call = () => adamStep(p, { w: p.w }, p, p, { lr: 1e-3, step: 1 })
    expect(call).toThrow(ProgramError)
    expect(call).toThrow(/grads lacks "b"/)
  })
})

const prefixed = (g: string, tensors: Record<string, Tensor>) => Object.fromEntries(Object.entries(tensors).map(([n, t]) => [`${g}/${n}`, t]))

describe("global-norm clipping", () => {
  const clipProgram = (shapes: Record<string, number[]>) =>
    compile((inputs: Record<string, Tensor>) => {
      const { grads, norm } = clipByGlobalNorm(inputs, 1.5)
      return { norm, ...prefixed("clipped", grads) }
    }, shapes, { backend: "cpu" })

  test("scales large gradients so the global norm is at most maxNorm, keeping their direction", async () => {
    const shapes = { a: [3], b: [2, 2] }
    const exe = await clipProgram(shapes)
    await fc.assert(
      fc.asyncProperty(fc.array(fc.double({ min: -50, max: 50, noNaN: true }), { minLength: 7, maxLength: 7 }), async (values) => {
        const a = values.slice(0, 3)
        const b = values.slice(3)
        const norm = Math.hypot(...values)
        fc.pre(norm > 1.6)
        exe.run({ a, b })
        expect((await exe.read("norm"))[0]!).toBeCloseTo(norm, 9)
        const clipped = [...(await exe.read("clipped/a")), ...(await exe.read("clipped/b"))]
        const clippedNorm = Math.hypot(...clipped)
        expect(clippedNorm).toBeLessThanOrEqual(1.5)
        expect(clippedNorm).toBeGreaterThan(1.5 * (1 - 1e-5))
        clipped.forEach((x, i) => expect(x * norm).toBeCloseTo(values[i]! * clippedNorm, 6))
      }),
      { numRuns: 50 },
    )
  })

  test("leaves gradients within maxNorm bit-for-bit unchanged", async () => {
    const exe = await clipProgram({ a: [3], b: [2] })
    const a = [0.3, -0.4, 0.5]
    const b = [1e-3, -0.7]
    exe.run({ a, b })
    expect(Array.from(await exe.read("clipped/a"))).toEqual(a)
    expect(Array.from(await exe.read("clipped/b"))).toEqual(b)
  })
})

describe("EMA of weights", () => {
  test("follows ema_k − p = decay^k (ema_0 − p) towards fixed weights, over fed-back runs", async () => {
    const decay = 0.75 // exact in float32, so the constant path can be held to float64 accuracy
    const exe = await compile((inputs: Record<string, Tensor>) => emaUpdate({ w: inputs.ema! }, { w: inputs.w! }, decay).w!, { ema: [3], w: [3] }, { backend: "cpu" })
    const start = [1, -2, 4]
    const target = [0.5, 0.5, -1]
    for (let k = 1; k <= 6; k++) {
      exe.run({ ema: k === 1 ? start : exe.output("out"), w: target })
      const ema = await exe.read("out")
      ema.forEach((e, i) => expect(e - target[i]!).toBeCloseTo(decay ** k * (start[i]! - target[i]!), 12))
    }
  })

  test("with decay 0.9999 tracks moving weights by ema ← decay·ema + (1 − decay)·p", async () => {
    const decay = 0.9999
    const exe = await compile((inputs: Record<string, Tensor>) => emaUpdate({ w: inputs.ema! }, { w: inputs.w! }, inputs.decay!).w!, { ema: [2], w: [2], decay: [] }, { backend: "cpu" })
    let want = [1, 2]
    for (let k = 1; k <= 5; k++) {
      const w = [k, -k * k]
      exe.run({ ema: k === 1 ? want : exe.output("out"), w, decay })
      want = want.map((e, i) => decay * e + (1 - decay) * w[i]!)
      Array.from(await exe.read("out")).forEach((e, i) => expect(e).toBeCloseTo(want[i]!, 13))
    }
  })
})

describe("linear learning-rate warm-up", () => {
  test("rises linearly from lr/warmup at step 1 to lr at step warmup, then stays", () => {
    expect(warmupLrAt(1e-3, 1, 100)).toBeCloseTo(1e-5, 15)
    expect(warmupLrAt(1e-3, 50, 100)).toBeCloseTo(5e-4, 15)
    expect(warmupLrAt(1e-3, 100, 100)).toBe(1e-3)
    expect(warmupLrAt(1e-3, 5000, 100)).toBe(1e-3)
    expect(warmupLrAt(2e-4, 7, 0)).toBe(2e-4)
    expect(() => warmupLrAt(1e-3, 1, -5)).toThrow(/warm-up length/)
  })

  test("the in-program schedule equals the host one at every step, with step as a uniform", async () => {
    const exe = await compile((inputs: Record<string, Tensor>) => warmupLr(inputs.lr!, inputs.step!, 40), { lr: [], step: [] }, { backend: "cpu" })
    for (const step of [0, 1, 13, 39, 40, 41, 1000]) {
      exe.run({ lr: 3e-4, step })
      expect((await exe.read("out"))[0]!).toBeCloseTo(warmupLrAt(3e-4, step, 40), 15)
    }
  })
})

describe("the whole update as one compiled program", () => {
  const full: ReferenceOptions = { lr: 2e-2, warmup: 4, maxNorm: 2, emaDecay: 0.9 }

  test("loss → grads → clip → warm-up → Adam → EMA, fed back 10 times, equals the float64 reference", async () => {
    const exe = await compileTraining(full, "uniforms", "cpu")
    const got = await runTraining(exe, 10, full)
    const want = referenceRun(10, full)
    expect(maxDifference(got.p, want.p)).toBeLessThan(1e-12)
    expect(maxDifference(got.ema!, want.ema)).toBeLessThan(1e-12)
    // The clip is active in this run (the initial gradient norm is ~30), so the test exercises it.
    expect(Math.sqrt(names.reduce((s, n) => s + initial[n]!.data.reduce((a, x, i) => a + (curvature[n]![i]! * (x - centre[n]![i]!)) ** 2, 0), 0))).toBeGreaterThan(2)
  })

  test("runs the same on WebGPU to 1e-5", async () => {
    await withGpu(async (gpu) => {
      const exe = await compileTraining(full, "constants", gpu)
      const got = await runTraining(exe, 10, full)
      const want = referenceRun(10, full)
      expect(maxDifference(got.p, want.p)).toBeLessThan(1e-5)
      expect(maxDifference(got.ema!, want.ema)).toBeLessThan(1e-5)
      exe.destroy()
    })
  })
})
