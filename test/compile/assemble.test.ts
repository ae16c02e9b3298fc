/**
 * In-place concatenation: parts of a contiguous concat are written by their own kernels straight into
 * the concat's buffer. Checked against the unfused CPU oracle (where the concat is a kernel of its
 * own), with every buffer poisoned so a range no part writes shows as NaN.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test"
import fc from "fast-check"
import { concat, conv2d, grad, matmul, type Tensor } from "../../src/index.ts"
import { programOf } from "../../src/compile/compile.ts"
import { renderWgsl } from "../../src/compile/wgsl.ts"
import { expectClose, inputsFor, reduction, runOnce, useGpu } from "../support/backends.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const gpu = useGpu()

/** Every output of `fn` on WebGPU (fused, poisoned first) against the unfused float64 CPU oracle. */
const expectMatchesUnfused = async (fn: (i: Record<string, Tensor>) => Record<string, Tensor>, specs: Record<string, number[]>, seed: number) => {
  const inputs = inputsFor(specs, seed)
  const fused = await runOnce(gpu(), fn, specs, inputs)
  const reference = await runOnce("cpu", fn, specs, inputs, { fuse: false })
  for (const name of Object.keys(reference)) expectClose(fused[name]!, reference[name]!, reduction, `output "${name}"`)
}

const kernelOps = (fn: (i: Record<string, Tensor>) => Record<string, Tensor>, specs: Record<string, number[]>) =>
  programOf(fn, specs).kernels.map((k) => k.ops)

/** A layer's gradients joined into one flat vector, as the training step lays them out. */
const flatGrads = (i: Record<string, Tensor>) => {
  const h = conv2d(i.x!, i.w!, { padding: 1 }).add(i.b!.reshape([1, 3, 1, 1])).silu()
  const y = matmul(h.reshape([2, 3 * 5 * 4]), i.d!)
  const loss = y.square().sum()
  const grads = grad(loss, [i.w!, i.b!, i.d!])
  return { flat: concat(grads.map((g) => g.reshape([-1]))), loss }
}
const flatSpecs = { x: [2, 2, 5, 4], w: [3, 2, 3, 3], b: [3], d: [60, 7] }

describe("in-place concatenation", () => {
  test("gradients of a conv, a bias and a dense layer fill one flat buffer without a concat kernel", async () => {
    const ops = kernelOps(flatGrads, flatSpecs)
    expect(ops.some((o) => o.includes("concat"))).toBe(false)
    const program = programOf(flatGrads, flatSpecs)
    const flat = program.outputs.find((o) => o.name === "flat")!
    const writers = program.kernels.filter((k) => k.write === flat.slot)
    // conv weight (54), bias (3), dense weight (420): three kernels, at their offsets.
    expect(writers.map((k) => k.writeOffset).sort((a, b) => a - b)).toEqual([0, 54, 57])
    for (const k of writers.filter((k) => k.writeOffset > 0)) expect(renderWgsl(program, k)).toContain(`+ ${k.writeOffset}]`)
    await expectMatchesUnfused(flatGrads, flatSpecs, 1)
  })

  test("nested concats (more than four parts) assemble recursively", async () => {
    const names = Array.from({ length: 9 }, (_, k) => `p${k}`)
    const specs = Object.fromEntries(names.map((n, k) => [n, [k + 1, 3]]))
    const fn = (i: Record<string, Tensor>) => ({ out: concat(names.map((n, k) => (k % 2 ? matmul(i[n]!, i[n]!.transpose()) : i[n]!.square().sum(1)).reshape([-1]))) })
    expect(kernelOps(fn, specs).some((o) => o.includes("concat"))).toBe(false)
    await expectMatchesUnfused(fn, specs, 2)
  })

  test("a part found twice (one gradient for two parameters) is written at both places by a kernel each", async () => {
    const names = Array.from({ length: 9 }, (_, k) => `p${k}`)
    const specs = Object.fromEntries(names.map((n, k) => [n, [k + 1, 3]]))
    const fn = (i: Record<string, Tensor>) => {
      const shared = i.p0!.square().sum(0)
      return { out: concat(names.map((n, k) => (k === 1 || k === 7 ? shared : i[n]!.exp().sum(1)).reshape([-1]))) }
    }
    const program = programOf(fn, specs)
    expect(program.kernels.some((k) => k.ops.includes("concat"))).toBe(false)
    const out = program.outputs[0]!
    // Parts 1 and 7 start after 1 and after 1 + 3 + 3 + 4 + 5 + 6 + 7 elements.
    expect(program.kernels.filter((k) => k.write === out.slot && [1, 29].includes(k.writeOffset)).length).toBe(2)
    await expectMatchesUnfused(fn, specs, 4)
  })

  test("stays a kernel when a part is an input, is read elsewhere, or the axis is not contiguous", async () => {
    const specs = { a: [2, 3], b: [2, 4] }
    const withInput = (i: Record<string, Tensor>) => ({ out: concat([i.a!, i.b!.exp()], 1) })
    const shared = (i: Record<string, Tensor>) => {
      const e = i.a!.exp()
      return { out: concat([e.reshape([-1]), i.b!.reshape([-1])]), other: e.sum() }
    }
    const strided = (i: Record<string, Tensor>) => ({ out: concat([i.a!.exp(), i.b!.sin()], 1) })
    for (const fn of [withInput, shared, strided]) {
      expect(kernelOps(fn, specs).some((o) => o.includes("concat"))).toBe(true)
      await expectMatchesUnfused(fn, specs, 3)
    }
  })

  test("random part sizes and kinds equal the unfused oracle", async () => {
    const part = fc.record({ rows: fc.integer({ min: 1, max: 5 }), cols: fc.integer({ min: 1, max: 6 }), kind: fc.constantFrom("exp", "rowsum", "matmul", "zeros") })
    await fc.assert(
      fc.asyncProperty(fc.array(part, { minLength: 1, maxLength: 7 }), fc.integer({ min: 1, max: 1000 }), async (parts, seed) => {
        const specs = Object.fromEntries(parts.map((p, k) => [`p${k}`, [p.rows, p.cols]]))
        const fn = (i: Record<string, Tensor>) => ({
          out: concat(
            parts.map((p, k) => {
              const x = i[`p${k}`]!
              const v = p.kind === "exp" ? x.exp() : p.kind === "rowsum" ? x.sum(1) : p.kind === "matmul" ? matmul(x, x.transpose()) : x.mul(0)
              return v.reshape([-1])
            }),
          ),
        })
        await expectMatchesUnfused(fn, specs, seed)
      }),
      { numRuns: 12 },
    )
  })
})
