import { afterAll, beforeAll, expect, test, setDefaultTimeout } from "bun:test"
import { compile, normal, type Tensor } from "../../src/index.ts"
import { bunGpu } from "../../src/platform/bun.ts"
import { closeGpu, openGpu, type GpuHandle } from "../../src/runtime/gpu.ts"
import type { DeviceValue, Executable, InputValue } from "../../src/runtime/executable.ts"

setDefaultTimeout(120_000)

let gpu: GpuHandle
beforeAll(async () => {
  gpu = await openGpu(bunGpu())
})
afterAll(() => closeGpu(gpu))

/** A noisy step with a per-step scalar and a parameter that stays put: x ← x·(1 − a·dt) + √dt·z. */
const step = ({ x, a, dt }: { x: Tensor; a: Tensor; dt: Tensor }) => x.mul(a.mul(dt).neg().add(1)).add(normal(x.shape).mul(dt.sqrt()))
const specs = { x: [1000], a: [1000], dt: [] }
const x0 = Float32Array.from({ length: 1000 }, (_, i) => Math.cos(i))
const a = Float32Array.from({ length: 1000 }, (_, i) => 1 + (i % 7))

const stepByStep = async (exe: Executable, n: number) => {
  let x: InputValue = x0
  for (let i = 0; i < n; i++) {
    exe.run({ x, a, dt: 0.01 * (i + 1) }, { seed: 3, step: i })
    x = exe.output("x") as DeviceValue
  }
  return exe.read("x")
}

test("a chain of 150 steps (three command buffers) equals 150 separate runs bit for bit, on both backends", async () => {
  for (const backend of [gpu, "cpu"] as const) {
    const fn = (i: { x: Tensor; a: Tensor; dt: Tensor }) => ({ x: step(i) })
    const [one, chained] = [await compile(fn, specs, { backend }), await compile(fn, specs, { backend })]
    const expected = await stepByStep(one, 150)
    chained.runChain({ steps: 150, inputs: { x: x0, a, dt: 0 }, scalars: (i) => ({ dt: 0.01 * (i + 1) }), options: (i) => ({ seed: 3, step: i }), feedback: { x: "x" } })
    await chained.check()
    expect(Array.from(await chained.read("x"))).toEqual(Array.from(expected))
  }
})
