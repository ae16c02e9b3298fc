import { expect, test, setDefaultTimeout } from "bun:test"
import { grad } from "../../src/ir/autodiff.ts"
import type { Tensor } from "../../src/ir/tensor.ts"
import { initialValue, varianceScaling } from "../../src/nn/init.ts"
import { specOf } from "../../src/nn/module.ts"
import { unet } from "../../src/nn/unet.ts"
import { randomData, runOnce, useGpu, type HostResult } from "../support/backends.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const gpu = useGpu()

// The smallest UNet that still has every part: two levels (a downsample and an upsample), attention at
// 8×8 in both paths and in the middle, shortcut convs where the channel count changes.
const net = unet({ inputChannels: 3, inputHeight: 8, ch: 32, chMult: [1, 2], numResBlocks: 1, attnResolutions: [8] })
const spec = specOf(net)
const names = Object.keys(spec)
const batch = 2

/**
 * Parameters away from the reference init, whose near-zero output layers would make every gradient
 * upstream of them ~1e-10 and the comparison meaningless: weights with variance 1/fan_in, and norm
 * affines and biases perturbed by U(±0.2).
 */
const liveParams = (): Record<string, Float32Array> =>
  Object.fromEntries(
    Object.entries(spec).map(([name, shape]) => {
      if (shape.length > 1) return [name, initialValue(name, shape, varianceScaling(1, "fan_in"), 5)]
      const base = name.endsWith(".weight") ? 1 : 0
      return [name, initialValue(name, shape, { kind: "uniform", bound: 0.2 }, 5).map((v) => base + v)]
    }),
  )

/** One training step's graph: loss = mean(unet(x, t)²) and its gradient for every parameter. */
const step = (inputs: Record<string, Tensor>) => {
  const loss = net.apply(inputs, inputs.x!, inputs.t!).square().mean()
  const grads = grad(loss, names.map((n) => inputs[n]!))
  return { loss, ...Object.fromEntries(names.map((n, i) => [`grad ${n}`, grads[i]!])) }
}

const largest = (xs: HostResult): number => Array.from(xs).reduce((m, v) => Math.max(m, Math.abs(v)), 0)
const largestDifference = (a: HostResult, b: HostResult): number => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0)

test("a UNet forward + backward step on WebGPU matches the float64 CPU oracle (loss and every gradient, rel. 1e-3)", async () => {
  const specs = { ...spec, x: [batch, 3, 8, 8], t: [batch] }
  const inputs = { ...liveParams(), x: randomData(batch * 3 * 8 * 8, 1), t: Float32Array.from([0.25, 0.8]) }
  const onGpu = await runOnce(gpu(), step, specs, inputs)
  const onCpu = await runOnce("cpu", step, specs, inputs, { precision: "f64" })

  expect(onCpu.loss![0]!).toBeGreaterThan(1e-3)
  expect(Math.abs(onGpu.loss![0]! - onCpu.loss![0]!) / onCpu.loss![0]!).toBeLessThan(1e-3)
  const gradients = names.map((n) => ({ name: n, gpu: onGpu[`grad ${n}`]!, cpu: onCpu[`grad ${n}`]! }))
  const overall = Math.max(...gradients.map((g) => largest(g.cpu)))
  // Biases feeding a GroupNorm of one channel per group (ch = 32), and attention key biases (softmax is
  // shift-invariant), have gradient exactly 0; f32 leaves rounding noise there, so those are held to the
  // overall gradient scale instead of their own.
  const exactlyZero = gradients.filter((g) => largest(g.cpu) < 1e-9 * overall)
  expect(exactlyZero.map((g) => g.name)).toContain("mid_modules.1.attn_k.bias")
  const failures = gradients
    .map((g) => ({ name: g.name, error: largestDifference(g.gpu, g.cpu) / Math.max(largest(g.cpu), exactlyZero.includes(g) ? overall : 0) }))
    .filter((e) => !(e.error < 1e-3))
  expect(failures).toEqual([])
  // Gradients reach the first layer, the time embedding and the attention with non-trivial size.
  for (const n of ["begin_conv.weight", "temb_net.main.0.weight", "down_modules.0.0a_0b_attn.attn_q.weight"])
    expect(largest(onCpu[`grad ${n}`]!)).toBeGreaterThan(1e-4 * overall)
  // lavapipe compiles each of the step's 485 kernels with LLVM on first use: 408 s on a cold shader
  // cache on a 2-core Zen 1 (MESA_SHADER_CACHE_DISABLE=true), seconds when Mesa's disk cache has them.
}, 1_200_000)
