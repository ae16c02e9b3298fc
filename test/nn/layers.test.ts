import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { input, type Tensor } from "../../src/ir/tensor.ts"
import { selfAttention } from "../../src/nn/attention.ts"
import { conv2dLayer } from "../../src/nn/conv.ts"
import { dense } from "../../src/nn/dense.ts"
import { groupNorm } from "../../src/nn/group-norm.ts"
import { initParams } from "../../src/nn/init.ts"
import { mlp } from "../../src/nn/mlp.ts"
import { specOf, type Layer } from "../../src/nn/module.ts"
import { averagePool2x, downsample, upsampleNearest2x } from "../../src/nn/resample.ts"
import { residualBlock } from "../../src/nn/res-block.ts"
import { arange, sinusoidalEmbedding, timestepEmbedding } from "../../src/nn/timestep.ts"
import type { GpuHandle } from "../../src/runtime/gpu.ts"
import { expectClose, randomData, runOnce, useGpu, type Tolerance } from "../support/backends.ts"
import { attentionRef, conv2dRef, denseRef, groupNormRef, siluRef, timestepRef, upsampleRef, type Shape4 } from "./reference-ops.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const gpu = useGpu()

/** Each layer runs on the float64 oracle (tight) and on WebGPU in f32 (loose), against the same float64 reference. */
const backends: readonly (readonly [string, () => GpuHandle | "cpu", Tolerance])[] = [
  ["CPU oracle (f64)", () => "cpu", { rtol: 1e-9, atol: 1e-12 }],
  ["WebGPU (f32)", () => gpu(), { rtol: 1e-4, atol: 1e-5 }],
]

/**
 * Graph constants are f32 literals on every backend (the oracle's f64 mode widens arithmetic, not
 * literals), so anything built from an irrational constant, such as ln(10⁴)/(h − 1), agrees with a
 * float64 reference only to f32 precision, amplified by t up to 10³.
 */
const f32Literals = (tol: Tolerance): Tolerance => ({ rtol: Math.max(tol.rtol, 1e-5), atol: Math.max(tol.atol, 1e-5) })

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1)

/** Random values for every parameter of `layer` (not its init: zero biases would hide bugs). */
const randomParams = (layer: { params: Layer<Tensor[]>["params"] }, seed: number) =>
  Object.fromEntries(Object.entries(specOf(layer)).map(([name, shape], i) => [name, randomData(size(shape), seed + 31 * i, -1, 1)]))

/** Evaluates `layer.apply(params, ...inputs)` on `backend` and returns the output. */
const evaluate = async (
  backend: GpuHandle | "cpu",
  layer: Layer<Tensor[]>,
  params: Record<string, Float32Array>,
  inputs: readonly (readonly [string, readonly number[], Float32Array])[],
): Promise<ArrayLike<number>> => {
  const specs = { ...specOf(layer), ...Object.fromEntries(inputs.map(([n, s]) => [n, s])) }
  const values = { ...params, ...Object.fromEntries(inputs.map(([n, , v]) => [n, v])) }
  const fn = (t: Record<string, Tensor>) => layer.apply(t, ...inputs.map(([n]) => t[n]!))
  return (await runOnce(backend, fn, specs, values, { precision: "f64" })).out!
}

/** A parameterless function of one tensor, as a layer. */
const pure = (f: (x: Tensor) => Tensor): Layer<Tensor[]> => ({ params: {}, apply: (_, x) => f(x!) })

describe.each(backends)("layers on %s match float64 references", (_, backend, tol) => {
  test("dense: y = x Wᵀ + b with weight [out, in] and bias [out]", async () => {
    const layer = dense("fc", 5, 3) as Layer<Tensor[]>
    expect(specOf(layer)).toEqual({ "fc.weight": [3, 5], "fc.bias": [3] })
    const p = randomParams(layer, 1)
    const x = randomData(4 * 5, 2)
    expectClose(await evaluate(backend(), layer, p, [["x", [4, 5], x]]), denseRef(x, 4, 5, p["fc.weight"]!, p["fc.bias"]!, 3), tol)
  })

  test("conv2d layer: 3×3 cross-correlation with zero padding 1 and a per-channel bias", async () => {
    const layer = conv2dLayer("conv", 2, 3) as Layer<Tensor[]>
    expect(specOf(layer)).toEqual({ "conv.weight": [3, 2, 3, 3], "conv.bias": [3] })
    const p = randomParams(layer, 3)
    const xs: Shape4 = [2, 2, 4, 5]
    const x = randomData(size(xs), 4)
    const expected = conv2dRef(x, xs, p["conv.weight"]!, [3, 2, 3, 3], p["conv.bias"]!, 1, 1).y
    expectClose(await evaluate(backend(), layer, p, [["x", xs, x]]), expected, tol)
  })

  test("downsample: sdeflow-light's 3×3 conv with stride 2 and symmetric padding 1 (odd sizes round up)", async () => {
    const layer = downsample("down", 2, true) as Layer<Tensor[]>
    expect(specOf(layer)).toEqual({ "down.weight": [2, 2, 3, 3], "down.bias": [2] })
    const p = randomParams(layer, 5)
    const xs: Shape4 = [1, 2, 7, 6]
    const x = randomData(size(xs), 6)
    const { y, shape } = conv2dRef(x, xs, p["down.weight"]!, [2, 2, 3, 3], p["down.bias"]!, 2, 1)
    expect(shape).toEqual([1, 2, 4, 3])
    expectClose(await evaluate(backend(), layer, p, [["x", xs, x]]), y, tol)
  })

  test("group norm: per (sample, group) standardisation with the biased variance and eps, then the affine map", async () => {
    const layer = groupNorm("gn", 4, { groups: 2, eps: 1e-6 }) as Layer<Tensor[]>
    const p = randomParams(layer, 7)
    const xs: Shape4 = [2, 4, 3, 3]
    const x = randomData(size(xs), 8, -3, 5)
    expectClose(await evaluate(backend(), layer, p, [["x", xs, x]]), groupNormRef(x, xs, 2, 1e-6, p["gn.weight"]!, p["gn.bias"]!), tol)
  })

  test("nearest ×2 upsampling repeats every pixel in a 2×2 block", async () => {
    const xs: Shape4 = [2, 3, 2, 3]
    const x = randomData(size(xs), 9)
    expectClose(await evaluate(backend(), pure(upsampleNearest2x), {}, [["x", xs, x]]), upsampleRef(x, xs), tol)
  })

  test("2×2 average pooling averages each block and drops an odd last row, as nn.AvgPool2d", async () => {
    const x = Float32Array.from({ length: 15 }, (_, i) => i) // [1, 1, 3, 5]
    const out = await evaluate(backend(), pure(averagePool2x), {}, [["x", [1, 1, 3, 5], x]])
    expectClose(out, [(0 + 1 + 5 + 6) / 4, (2 + 3 + 7 + 8) / 4], tol)
  })

  test("self-attention: x + proj(Σⱼ softmaxⱼ(qᵢ·kⱼ/√C) vⱼ) over all pixels", async () => {
    const layer = selfAttention("attn", 4, { groups: 2 }) as Layer<Tensor[]>
    const p = randomParams(layer, 11)
    const xs: Shape4 = [2, 4, 2, 3]
    const x = randomData(size(xs), 12)
    const pair = (name: string) => [p[`attn.${name}.weight`]!, p[`attn.${name}.bias`]!] as const
    const weights = { q: pair("attn_q"), k: pair("attn_k"), v: pair("attn_v"), proj: pair("proj_out"), norm: pair("norm") }
    expectClose(await evaluate(backend(), layer, p, [["x", xs, x]]), attentionRef(x, xs, weights, 2, 1e-6), tol)
  })

  test("sinusoidal embedding: sines then cosines of t·10000^(−i/(h−1)), zero-padded when dim is odd", async () => {
    const t = [0, 0.5, 3, 700]
    for (const dim of [8, 7]) {
      const layer = pure((x) => sinusoidalEmbedding(x, dim))
      expectClose(await evaluate(backend(), layer, {}, [["t", [4], Float32Array.from(t)]]), timestepRef(t, dim), f32Literals(tol))
    }
  })

  test("arange builds 0, 1, …, n − 1 for lengths that are and are not powers of two", async () => {
    for (const n of [1, 5, 8]) {
      const layer: Layer<Tensor[]> = { params: {}, apply: (_, x) => x!.mul(0).add(arange(n)) }
      expectClose(await evaluate(backend(), layer, {}, [["x", [n], new Float32Array(n)]]), Array.from({ length: n }, (_, i) => i), tol)
    }
  })

  test("timestep embedding network: dense → SiLU → dense on the sinusoidal features", async () => {
    const layer = timestepEmbedding("temb_net", 8, 16, 12) as Layer<Tensor[]>
    expect(specOf(layer)).toEqual({ "temb_net.main.0.weight": [16, 8], "temb_net.main.0.bias": [16], "temb_net.main.2.weight": [12, 16], "temb_net.main.2.bias": [12] })
    const p = randomParams(layer, 13)
    const t = [0.1, 0.9]
    const hidden = siluRef(denseRef(timestepRef(t, 8), 2, 8, p["temb_net.main.0.weight"]!, p["temb_net.main.0.bias"]!, 16))
    const expected = denseRef(hidden, 2, 16, p["temb_net.main.2.weight"]!, p["temb_net.main.2.bias"]!, 12)
    expectClose(await evaluate(backend(), layer, p, [["t", [2], Float32Array.from(t)]]), expected, f32Literals(tol))
  })

  test("residual block: shortcut(x) + conv2(silu(norm2(conv1(silu(norm1 x)) + temb_proj(silu temb))))", async () => {
    const [cin, cout, temb] = [4, 6, 5]
    const layer = residualBlock("blk", cin, temb, cout, { groups: 2 }) as Layer<Tensor[]>
    expect(Object.keys(specOf(layer))).toEqual(
      ["temb_proj", "norm1", "conv1", "norm2", "conv2", "shortcut"].flatMap((m) => [`blk.${m}.weight`, `blk.${m}.bias`]),
    )
    const p = randomParams(layer, 17)
    const xs: Shape4 = [2, cin, 3, 3]
    const x = randomData(size(xs), 18)
    const e = randomData(2 * temb, 19)
    const w = (m: string) => p[`blk.${m}.weight`]!
    const b = (m: string) => p[`blk.${m}.bias`]!
    const hs: Shape4 = [2, cout, 3, 3]
    const h1 = conv2dRef(siluRef(groupNormRef(x, xs, 2, 1e-6, w("norm1"), b("norm1"))), xs, w("conv1"), [cout, cin, 3, 3], b("conv1"), 1, 1).y
    const proj = denseRef(siluRef(e), 2, temb, w("temb_proj"), b("temb_proj"), cout)
    const conditioned = h1.map((v, i) => v + proj[Math.floor(i / 9 / cout) * cout + (Math.floor(i / 9) % cout)]!)
    const h2 = conv2dRef(siluRef(groupNormRef(conditioned, hs, 2, 1e-6, w("norm2"), b("norm2"))), hs, w("conv2"), [cout, cout, 3, 3], b("conv2"), 1, 1).y
    const shortcut = conv2dRef(x, xs, w("shortcut"), [cout, cin, 1, 1], b("shortcut"), 1, 0).y
    const out = await evaluate(backend(), layer, p, [["x", xs, x], ["temb", [2, temb], e]])
    expectClose(out, h2.map((v, i) => v + shortcut[i]!), tol)
  })

  test("mlp: dense layers on concat(x, t) with SiLU between them, named as an nn.Sequential", async () => {
    const layer = mlp({ dataDim: 2, hidden: [8, 8] }) as Layer<Tensor[]>
    expect(specOf(layer)).toEqual({
      "main.0.weight": [8, 3], "main.0.bias": [8], "main.2.weight": [8, 8], "main.2.bias": [8], "main.4.weight": [2, 8], "main.4.bias": [2],
    })
    const p = randomParams(layer, 23)
    const x = randomData(3 * 2, 24)
    const t = Float32Array.from([0.2, 0.5, 0.9])
    const joined = Array.from({ length: 3 }, (_, r) => [x[2 * r]!, x[2 * r + 1]!, t[r]!]).flat()
    let h = siluRef(denseRef(joined, 3, 3, p["main.0.weight"]!, p["main.0.bias"]!, 8))
    h = siluRef(denseRef(h, 3, 8, p["main.2.weight"]!, p["main.2.bias"]!, 8))
    const expected = denseRef(h, 3, 8, p["main.4.weight"]!, p["main.4.bias"]!, 2)
    expectClose(await evaluate(backend(), layer, p, [["x", [3, 2], x], ["t", [3], t]]), expected, tol)
  })
})

describe("layer behaviour at initialisation", () => {
  test("group norm with its initial affine map gives each group mean 0 and variance 1", async () => {
    const layer = groupNorm("gn", 64) as Layer<Tensor[]>
    const xs: Shape4 = [1, 64, 2, 2]
    const x = randomData(size(xs), 29, 1, 9)
    const out = await evaluate("cpu", layer, initParams(layer, 0), [["x", xs, x]])
    for (let g = 0; g < 32; g++) {
      const members = Array.from(out).slice(g * 8, (g + 1) * 8)
      const mean = members.reduce((a, v) => a + v, 0) / 8
      expect(Math.abs(mean)).toBeLessThan(1e-12)
      expect(members.reduce((a, v) => a + (v - mean) ** 2, 0) / 8).toBeCloseTo(1, 4)
    }
  })

  test("a freshly initialised attention block and residual block are the identity up to ~1e-5", async () => {
    const attention = selfAttention("attn", 32) as Layer<Tensor[]>
    const xs: Shape4 = [1, 32, 2, 2]
    const x = randomData(size(xs), 31)
    expectClose(await evaluate("cpu", attention, initParams(attention, 1), [["x", xs, x]]), x, { rtol: 0, atol: 1e-4 })
    const block = residualBlock("blk", 32, 8, 32) as Layer<Tensor[]>
    const e = randomData(8, 32)
    expectClose(await evaluate("cpu", block, initParams(block, 1), [["x", xs, x], ["temb", [1, 8], e]]), x, { rtol: 0, atol: 1e-4 })
  })

  test("shape errors name the layer and the expected shape", () => {
    const layer = groupNorm("down_modules.0.norm1", 64)
    expect(() => layer.apply({}, input("x", [1, 32, 4, 4]))).toThrow(/down_modules\.0\.norm1: expected \[N, 64/)
    expect(() => groupNorm("gn", 48)).toThrow(/48 channels do not split into 32 groups/)
    expect(() => dense("fc", 3, 2).apply({ "fc.weight": input("w", [3, 2]) }, input("x", [1, 3]))).toThrow(/"fc.weight" has shape \[3, 2\], expected \[2, 3\]/)
  })
})
