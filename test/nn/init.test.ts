import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { dense } from "../../src/nn/dense.ts"
import { fans, initParams, initialValue, varianceScaling, varianceScalingBound } from "../../src/nn/init.ts"
import { unet } from "../../src/nn/unet.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const moments = (xs: Float32Array) => {
  const mean = xs.reduce((a, v) => a + v, 0) / xs.length
  const variance = xs.reduce((a, v) => a + (v - mean) ** 2, 0) / xs.length
  const largest = xs.reduce((m, v) => Math.max(m, Math.abs(v)), 0)
  return { mean, variance, largest }
}

describe("variance scaling", () => {
  test("fans follow PyTorch: conv [out, in, kh, kw] has fan_in = in·kh·kw and fan_out = out·kh·kw", () => {
    expect(fans([64, 32, 3, 3])).toEqual({ fanIn: 288, fanOut: 576 })
    expect(fans([512, 128])).toEqual({ fanIn: 128, fanOut: 512 })
  })

  test("fan_avg draws U(±b) with variance scale·2/(fan_in + fan_out)", () => {
    const shape = [64, 32, 3, 3]
    const values = initialValue("w", shape, varianceScaling(2, "fan_avg"), 7)
    const expected = (2 * 2) / (288 + 576)
    const { mean, variance, largest } = moments(values)
    expect(variance / expected).toBeGreaterThan(0.97)
    expect(variance / expected).toBeLessThan(1.03)
    expect(Math.abs(mean)).toBeLessThan(0.01 * Math.sqrt(expected))
    // Uniform: every draw within b = √(3·variance) and the extremes close to it.
    const bound = varianceScalingBound(shape, 2, "fan_avg")
    expect(bound).toBeCloseTo(Math.sqrt(3 * expected), 12)
    expect(largest).toBeLessThanOrEqual(bound)
    expect(largest).toBeGreaterThan(0.999 * bound)
  })

  test("fan_in and fan_out divide by their own fan", () => {
    const shape = [64, 32, 3, 3]
    expect(moments(initialValue("w", shape, varianceScaling(1, "fan_in"), 1)).variance * 288).toBeCloseTo(1, 1)
    expect(moments(initialValue("w", shape, varianceScaling(1, "fan_out"), 1)).variance * 576).toBeCloseTo(1, 1)
  })
})

describe("UNet initialisation reproduces sdeflow-light's", () => {
  const net = unet({ inputChannels: 3, inputHeight: 16, ch: 32, chMult: [1, 2], numResBlocks: 1, attnResolutions: [16] })
  const params = initParams(net, 0)

  test("weights have variance scale / fan_out (what the reference's 'fan_avg' actually computes)", () => {
    const conv = params["down_modules.1.1a_0a_block.conv1.weight"]! // [64, 32, 3, 3]
    expect(moments(conv).variance * (64 * 9)).toBeCloseTo(1, 1)
    const linear = params["temb_net.main.0.weight"]! // [128, 32]
    expect(moments(linear).variance * 128).toBeCloseTo(1, 1)
  })

  test("the last conv of each residual block, the attention projection and the output conv start at scale 1e-10", () => {
    for (const name of ["down_modules.0.0a_0a_block.conv2.weight", "down_modules.0.0a_0b_attn.proj_out.weight", "end_conv.2.weight"]) {
      const { largest } = moments(params[name]!)
      expect(largest).toBeGreaterThan(0)
      expect(largest).toBeLessThan(1e-5)
    }
  })

  test("biases start at zero, GroupNorm weights at one", () => {
    for (const [name, values] of Object.entries(params)) {
      if (name.endsWith(".bias")) expect(values.every((v) => v === 0)).toBe(true)
      if (/(norm\d?|end_conv\.0)\.weight$/.test(name)) expect(values.every((v) => v === 1)).toBe(true)
    }
    expect(params["end_conv.0.weight"]!.every((v) => v === 1)).toBe(true)
  })

  test("values are a function of (seed, parameter name) only", () => {
    const again = initParams(net, 0)
    expect(again["begin_conv.weight"]).toEqual(params["begin_conv.weight"]!)
    expect(initParams(net, 1)["begin_conv.weight"]).not.toEqual(params["begin_conv.weight"]!)
    // The same name in a different network draws the same values: no dependence on position or neighbours.
    const alone = initParams(dense("temb_net.main.0", 32, 128), 0)
    expect(alone["temb_net.main.0.weight"]).toEqual(params["temb_net.main.0.weight"]!)
    // Different names draw different streams, even for parameters of the same shape and init.
    const query = params["down_modules.0.0a_0b_attn.attn_q.weight"]!
    const key = params["down_modules.0.0a_0b_attn.attn_k.weight"]!
    expect(query.length).toBe(key.length)
    expect(query).not.toEqual(key)
  })
})
