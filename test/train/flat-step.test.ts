/**
 * The training step over flat state: parameters are views of one vector, gradients are assembled into
 * one vector by their own kernels, and one kernel updates every parameter, both Adam moments and the EMA.
 * Checked for structure (kernel counts, offsets) and against a per-parameter formulation of the same
 * step run unfused on the float64 CPU oracle.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { grad, type Tensor } from "../../src/index.ts"
import { programOf } from "../../src/compile/compile.ts"
import { ProgramError } from "../../src/ir/errors.ts"
import { initParams } from "../../src/nn/init.ts"
import { adamStep } from "../../src/nn/optim.ts"
import { clipByGlobalNorm } from "../../src/nn/optim-clip.ts"
import { emaUpdate } from "../../src/nn/optim-ema.ts"
import { warmupLr } from "../../src/nn/optim-warmup.ts"
import { flatten, packHost, paramLayout, unpackHost } from "../../src/nn/param-layout.ts"
import { input } from "../../src/ir/tensor.ts"
import { toySample } from "../../src/data/toy.ts"
import { driftModel, paramInputs, stateNames, trainStep } from "../../src/train/programs.ts"
import { dsm } from "../../dsl/objectives.ts"
import { expectClose, randomData, runOnce, useGpu } from "../support/backends.ts"
import { tinySpec } from "../support/tiny-train.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const gpu = useGpu()

const spec = tinySpec()
const network = spec.network
const layout = paramLayout(network.params)

/** The same step with one input and one update per parameter (the formulation before flat state). */
const perParameterStep = (): Record<string, Tensor> => {
  const named = (group: string) => Object.fromEntries(layout.names.map((n) => [n, input(`${group}/${n}`, layout.shapes[n]!)]))
  const [params, m, v, ema] = [paramInputs(network), named("m"), named("v"), named("ema")]
  const [lr, step] = [input("lr", []), input("step", [])]
  const loss = dsm(spec.sde, driftModel(network, params, "a"), toySample("swissroll", spec.batch), {}).mean()
  const grads = grad(loss, layout.names.map((n) => params[n]!))
  const clipped = clipByGlobalNorm(Object.fromEntries(layout.names.map((n, i) => [n, grads[i]!])), spec.gradClip)
  const updated = adamStep(params, clipped.grads, m, v, { lr: warmupLr(lr, step, spec.warmup), step })
  const averaged = emaUpdate(ema, updated.params, spec.emaDecay)
  return { loss, gradNorm: clipped.norm, params: flatten(updated.params, layout), m: flatten(updated.m, layout), v: flatten(updated.v, layout), ema: flatten(averaged, layout) }
}

describe("flat parameter layout", () => {
  test("packs and unpacks in declaration order, with offsets back to back", () => {
    const values = initParams(network, 3)
    const flat = packHost(values, layout)
    expect(flat.length).toBe(layout.size)
    expect(layout.names).toEqual(Object.keys(network.params))
    let offset = 0
    for (const name of layout.names) {
      expect(layout.offsets[name]).toBe(offset)
      offset += values[name]!.length
    }
    const back = unpackHost(flat, layout)
    for (const name of layout.names) {
      expect(back[name]!.shape).toEqual([...layout.shapes[name]!])
      expect(Array.from(back[name]!.data)).toEqual(Array.from(values[name]!))
    }
  })

  test("wrong sizes and shapes are typed errors naming the parameter", () => {
    const values = initParams(network, 0)
    const name = layout.names[1]!
    expect(() => packHost({ ...values, [name]: new Float32Array(3) }, layout)).toThrow(new RegExp(`"${name.replace(".", "\\.")}" has 3 values`))
    expect(() => unpackHost(new Float32Array(layout.size + 1), layout)).toThrow(ProgramError)
    const tensors = Object.fromEntries(layout.names.map((n) => [n, input(n, layout.shapes[n]!)]))
    expect(() => flatten({ ...tensors, [name]: input("x", [7]) }, layout)).toThrow(/has shape \[7\]/)
  })
})

describe("the flat training step", () => {
  test("is one optimizer kernel over all parameters, with every gradient written in place", () => {
    const program = programOf(trainStep(spec), {})
    const slots = new Map(program.outputs.map((o) => [o.name, o.slot]))
    const optimizer = program.kernels.filter((k) => k.threads === layout.size && k.siblings.length === 3)
    expect(optimizer.length).toBe(1)
    const written = [optimizer[0]!.write, ...optimizer[0]!.siblings.map((s) => s.write)]
    expect(new Set(written)).toEqual(new Set(stateNames.map((n) => slots.get(n)!)))
    // (The network's own [x, t] input concat is a kernel; the flat gradient is not.)
    expect(program.kernels.some((k) => k.ops.includes("concat") && k.threads === layout.size)).toBe(false)
    // The gradient kernels tile the flat gradient: one per parameter, at each parameter's offset.
    const flatGrad = optimizer[0]!.reads.filter((slot) => program.kernels.filter((k) => k.write === slot).length === layout.names.length)
    expect(flatGrad.length).toBe(1)
    const offsets = program.kernels.filter((k) => k.write === flatGrad[0]).map((k) => k.writeOffset).sort((a, b) => a - b)
    expect(offsets).toEqual(layout.names.map((n) => layout.offsets[n]!))
  })

  test("equals the per-parameter step on the unfused float64 oracle", async () => {
    const params = packHost(initParams(network, 1), layout)
    const state = { params, ema: params.map((p, i) => p + 0.01 * Math.sin(i)), m: randomData(layout.size, 5, -1e-2, 1e-2), v: randomData(layout.size, 6, 1e-4, 1e-3) }
    const flat = await runOnce(gpu(), trainStep(spec), {}, { ...state, lr: 1e-2, step: 100 }, { seed: 7, step: 3 })
    const split = (group: string, values: Float32Array) => Object.fromEntries(layout.names.map((n) => [`${group}/${n}`, unpackHost(values, layout)[n]!.data]))
    const namedInputs = { ...Object.fromEntries(layout.names.map((n) => [n, unpackHost(params, layout)[n]!.data])), ...split("m", state.m), ...split("v", state.v), ...split("ema", state.ema), lr: 1e-2, step: 100 }
    const reference = await runOnce("cpu", perParameterStep, {}, namedInputs, { seed: 7, step: 3, fuse: false })
    expect(reference.gradNorm![0]!).toBeGreaterThan(spec.gradClip) // so clipping is exercised
    for (const name of ["loss", "gradNorm", ...stateNames]) expectClose(flat[name]!, reference[name]!, { rtol: 1e-4, atol: 1e-6 }, name)
  })
})
