import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { compile } from "../../src/compile/compile.ts"
import { timeToTensor } from "../../dsl/lower-time.ts"
import { constant, exp, simplify, t, type TimeExpr } from "../../dsl/time/index.ts"
import { useGpu } from "../support/backends.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const gpu = useGpu()
const times = Float32Array.from({ length: 61 }, (_, k) => 1e-6 * Math.pow(1e6, k / 60))

/** `expr` lowered and run on WebGPU (f32) at `times`. */
const onGpu = async (expr: TimeExpr) => {
  const exe = await compile(({ t: at }) => timeToTensor(expr, at), { t: [times.length] }, { backend: gpu() })
  exe.run({ t: times })
  const out = await exe.read("out")
  exe.destroy()
  return out
}

describe("time expressions lowered to float32 kernels keep their precision where sums cancel", () => {
  // Σⱼ cⱼ·e^{j·x} with Σⱼ cⱼ = 0 is evaluated as a polynomial in expm1(x): the leading terms cancel exactly.
  test.each([
    ["1 − e^{−t}", (x: TimeExpr) => constant(1).sub(exp(x.neg())), (x: number) => -Math.expm1(-x)],
    ["1 − 2e^{−t} + e^{−2t} = (1 − e^{−t})²", (x: TimeExpr) => constant(1).sub(exp(x.neg()).mul(2)).add(exp(x.mul(-2))), (x: number) => Math.expm1(-x) ** 2],
    [
      "1 − 3e^{−t} + 3e^{−2t} − e^{−3t} = (1 − e^{−t})³",
      (x: TimeExpr) => constant(1).sub(exp(x.neg()).mul(3)).add(exp(x.mul(-2)).mul(3)).sub(exp(x.mul(-3))),
      (x: number) => -(Math.expm1(-x) ** 3),
    ],
  ] as const)("%s to 1e-5 relative for t ∈ [1e-6, 1]", async (_, build, exact) => {
    const out = await onGpu(simplify(build(t.mul(0.7))))
    times.forEach((x, i) => expect(Math.abs(out[i]! / exact(0.7 * x) - 1)).toBeLessThan(1e-5))
  })

  test("a sum that does not cancel is left as written", async () => {
    const out = await onGpu(simplify(constant(2).sub(exp(t.neg()))))
    times.forEach((x, i) => expect(out[i]!).toBeCloseTo(2 - Math.exp(-x), 6))
  })
})
