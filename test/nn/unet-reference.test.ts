import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { input } from "../../src/ir/tensor.ts"
import { parameterCount, specOf } from "../../src/nn/module.ts"
import { unet } from "../../src/nn/unet.ts"
import { readReference } from "./reference-state-dict.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const paramInputs = (spec: Record<string, number[]>) => Object.fromEntries(Object.entries(spec).map(([n, s]) => [n, input(n, s)]))

describe.each(["cifar-paper", "mnist-paper"])("UNet with sdeflow-light's %s config", (name) => {
  const reference = readReference(name)
  const net = unet(reference.config)

  test("has exactly the reference state_dict: same names in the same order, same shapes", () => {
    expect(Object.entries(specOf(net))).toEqual(reference.entries.map(([n, s]) => [n, [...s]]))
    expect(Object.keys(net.params).length).toBe(reference.tensorCount)
  })

  test("has the reference's total parameter count", () => {
    expect(parameterCount(net)).toBe(reference.parameterCount)
  })

  test("maps x [N, C, H, W] and t [N] to an output of the shape of x", () => {
    const { inputChannels: c, inputHeight: h } = reference.config
    const out = net.apply(paramInputs(specOf(net)), input("x", [2, c, h, h]), input("t", [2]))
    expect(out.shape).toEqual([2, c, h, h])
  })
})

test("the paper's configs have the documented sizes", () => {
  expect(readReference("cifar-paper").parameterCount).toBe(35_746_307)
  expect(readReference("mnist-paper").parameterCount).toBe(1_539_329)
})

describe("UNet construction and input errors", () => {
  const config = { inputChannels: 1, inputHeight: 28, ch: 32, chMult: [1, 2, 2] }

  test("rejects a height that the levels cannot halve, and dropout it would otherwise silently ignore", () => {
    expect(() => unet({ ...config, inputHeight: 30 })).toThrow(/input height 30 is not divisible by 2\^2/)
    expect(() => unet({ ...config, dropout: 0.1 })).toThrow(/dropout 0.1 is not supported/)
  })

  test("takes t per sample or one scalar t for the whole batch, and names the expected x shape otherwise", () => {
    const net = unet(config)
    const params = paramInputs(specOf(net))
    expect(net.apply(params, input("x", [3, 1, 28, 28]), input("t", [])).shape).toEqual([3, 1, 28, 28])
    expect(() => net.apply(params, input("x", [3, 1, 32, 32]), input("t", [3]))).toThrow(/expects x \[N, 1, 28, W\]/)
    expect(() => net.apply(params, input("x", [3, 1, 28, 28]), input("t", [2]))).toThrow(/expects t \[3\] or a scalar/)
  })
})
