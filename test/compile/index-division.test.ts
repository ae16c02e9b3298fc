import { describe, expect, test, setDefaultTimeout } from "bun:test"
import fc from "fast-check"
import { wgslPrelude } from "../../src/compile/wgsl-prelude.ts"
import { SMALL_DIVIDEND } from "../../src/compile/scalar.ts"
import { upload } from "../../src/runtime/buffers.ts"
import { withGpu } from "../../src/platform/bun.ts"
import { dispatch, poisoned, readWords } from "../support/raw-kernel.ts"
import { programOf } from "../../src/compile/compile.ts"
import { renderProgramWgsl, renderWgsl } from "../../src/compile/wgsl.ts"
import type { Tensor } from "../../src/ir/tensor.ts"
import { expectBackendsAgree, inputsFor, reduction, useGpu } from "../support/backends.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)
const gpu = useGpu()

/** sdf_idiv and sdf_imod on (dividend, divisor, reciprocal bits) cases, as the lifted kernels call them. */
const divisionKernel = `${wgslPrelude}
@group(0) @binding(0) var<storage, read> cases: array<vec4<i32>>;
@group(0) @binding(1) var<storage, read_write> results: array<vec2<i32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= arrayLength(&cases)) { return; }
  let c = cases[i];
  let r = bitcast<f32>(c.z);
  results[i] = vec2<i32>(sdf_idiv(c.x, c.y, r), sdf_imod(c.x, c.y, r));
}
`

/** The reciprocal as lift-constants passes it: 1/d rounded once to f32. */
const reciprocalBits = (d: number): number => new Int32Array(new Float32Array([1 / d]).buffer)[0]!

const LIMIT = SMALL_DIVIDEND

/**
 * Dividends next to multiples of each divisor, where a reciprocal one ulp off would show, up to the bound.
 * 41, 47, 55 and 61 are divisors whose rounded reciprocal times the divisor itself truncates to 0 in f32.
 */
const edgeCases = (): [number, number][] => {
  const divisors = [1, 2, 3, 5, 7, 9, 10, 31, 32, 33, 41, 47, 55, 61, 255, 1000, 1023, 1024, 4095, 65537, 2 ** 21 - 1, 2 ** 21 + 1, LIMIT - 1, LIMIT, LIMIT + 1]
  return divisors.flatMap((d) => {
    const top = Math.floor((LIMIT - 1) / d)
    const multiples = [1, 2, 3, Math.floor(top / 2), top - 1, top].filter((k) => k >= 1)
    return [[0, d], [LIMIT - 1, d], ...multiples.flatMap((k) => [-1, 0, 1].map((e) => [k * d + e, d]))].filter(([a]) => a! >= 0 && a! < LIMIT) as [number, number][]
  })
}

describe("index division by a parameter (sdf_idiv, sdf_imod)", () => {
  test("equals integer division and remainder for every dividend below SMALL_DIVIDEND, on the device", async () => {
    await withGpu(async (gpu) => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(fc.nat({ max: LIMIT - 1 }), fc.integer({ min: 1, max: 2 * LIMIT })), { minLength: 1, maxLength: 4000 }), async (random) => {
          const all = [...edgeCases(), ...random]
          const cases = upload(gpu.device, new Int32Array(all.flatMap(([a, d]) => [a, d, reciprocalBits(d), 0])))
          const results = poisoned(gpu, 2 * all.length)
          try {
            await dispatch(gpu, divisionKernel, ["read", "read_write"], [cases, results], all.length)
            const words = new Int32Array((await readWords(gpu, results)).buffer)
            all.forEach(([a, d], i) => {
              const expected = [Math.floor(a / d), a % d]
              if (words[2 * i] !== expected[0] || words[2 * i + 1] !== expected[1]) {
                throw new Error(`${a} / ${d}: device gave ${words[2 * i]} rest ${words[2 * i + 1]}, expected ${expected[0]} rest ${expected[1]}`)
              }
            })
          } finally {
            cases.destroy()
            results.destroy()
          }
        }),
        { numRuns: 5 },
      )
    })
  })
})

/** The statements of a kernel's first reduction loop. */
const loopBody = (wgsl: string): string => {
  const loop = wgsl.slice(wgsl.indexOf("for (var r0"))
  return loop.slice(loop.indexOf("{") + 1, loop.indexOf("}"))
}

describe("reductions of a buffer over leading and trailing axes", () => {
  const sums = (i: Record<string, Tensor>) => ({ spatial: i.x!.sum([2, 3]), batchAndSpatial: i.x!.sum([0, 2, 3]) })
  const shapes = { x: [2, 3, 8, 8] }

  test("read their input at (a·kept + k)·trailing + b, with no counter split into axes, and share one form", async () => {
    const program = programOf(sums, shapes)
    // Told apart by their output sizes: 2×3 sums over the spatial axes, 3 over batch and space.
    const loopsOf = (outputs: number) => {
      const wgsl = renderWgsl(program, program.kernels.find((k) => k.threads === outputs)!)
      return wgsl.slice(wgsl.indexOf("for (var r0"))
    }
    for (const loops of [loopsOf(6), loopsOf(3)]) {
      expect(loops).toContain("for (var r1")
      expect(loops).not.toMatch(/>>|\/|%|&/)
    }
    const lifted = renderProgramWgsl(program)
    expect(lifted[0]!.wgsl).toBe(lifted[1]!.wgsl)
    await expectBackendsAgree(gpu(), sums, shapes, inputsFor(shapes, 3), { tolerance: reduction, label: "trailing-axis sums" })
  })
})
