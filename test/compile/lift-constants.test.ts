import { describe, expect, test, setDefaultTimeout } from "bun:test"
import fc from "fast-check"
import { FormRegistry, liftConstants } from "../../src/compile/lift-constants.ts"
import { param, paramQuotient, paramsDeclaration } from "../../src/compile/wgsl-literal.ts"
import { programOf } from "../../src/compile/compile.ts"
import { renderProgramWgsl, renderWgsl, type WgslOptions } from "../../src/compile/wgsl.ts"
import { conv2d, matmul } from "../../src/ir/tensor.ts"
import type { Tensor } from "../../src/ir/tensor.ts"
import { expectBackendsAgree, inputsFor, reduction, useGpu } from "../support/backends.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)
const gpu = useGpu()

/** A kernel text of one form: `n` and `scale` marked, the 3 of a fixed window not. */
const form = (n: number, scale: number) => `${paramsDeclaration(2)}\nfn main() { let a = x / ${param(n)}; let b = y * ${param(scale, "f32")}; let c = z % 3; }`

describe("liftConstants", () => {
  test("a form used once keeps every literal and needs no parameters", () => {
    const [k] = liftConstants([form(32, 0.5)])
    expect(k!.wgsl).toBe("\nfn main() { let a = x / 32; let b = y * f32(0.5); let c = z % 3; }")
    expect(k!.params).toBeUndefined()
  })

  test("values that differ within a form become parameters; values that agree stay literals", () => {
    const [a, b] = liftConstants([form(32, 0.5), form(64, 0.5)])
    expect(a!.wgsl).toBe(b!.wgsl)
    expect(a!.wgsl).toContain("x / sdf_p[0][0]")
    expect(a!.wgsl).toContain("y * f32(0.5)")
    expect(a!.wgsl).toContain("@group(0) @binding(2) var<uniform> sdf_p: array<vec4<i32>, 1>;")
    expect([...a!.params!]).toEqual([32, 0, 0, 0])
    expect([...b!.params!]).toEqual([64, 0, 0, 0])
  })

  test("f32 and u32 parameters travel as their bits", () => {
    const [a, b] = liftConstants([form(8, 0.25), form(8, -3)])
    expect(a!.wgsl).toContain("y * bitcast<f32>(sdf_p[0][0])")
    expect(new Float32Array(a!.params!.buffer)[0]).toBe(0.25)
    expect(new Float32Array(b!.params!.buffer)[0]).toBe(-3)
    const [u, v] = liftConstants([`let s = ${param(7, "u32")};`, `let s = ${param(0xffffffff, "u32")};`])
    expect(u!.wgsl).toBe("let s = bitcast<u32>(sdf_p[0][0]);")
    expect(v!.params![0]).toBe(0xffffffff)
  })

  test("a device's registry lets a later program reuse a compiled variant that fits, and generalises one that does not", () => {
    const forms = new FormRegistry()
    const [a] = liftConstants([form(32, 0.5), form(64, 0.5)], forms)
    // A later program with one kernel of this form: it fits (scale 0.5 is the variant's literal), so same text.
    const [later] = liftConstants([form(16, 0.5)], forms)
    expect(later!.wgsl).toBe(a!.wgsl)
    expect([...later!.params!]).toEqual([16, 0, 0, 0])
    // A different scale does not fit: a new variant reads both values, and a third program fits that one.
    const [other] = liftConstants([form(16, 0.25)], forms)
    expect(other!.wgsl).not.toBe(a!.wgsl)
    expect(other!.wgsl).toContain("y * bitcast<f32>(sdf_p[0][1])")
    const [third] = liftConstants([form(8, 2)], forms)
    expect(third!.wgsl).toBe(other!.wgsl)
    // Without a registry each program decides alone: a lone kernel keeps its literals.
    expect(liftConstants([form(16, 0.5)])[0]!.params).toBeUndefined()
  })

  test("quotients: a power of two shifts or masks, another divisor calls sdf_idiv with its reciprocal", () => {
    const text = (d: number, e: number) => `${paramsDeclaration(0)}\nlet a = ${paramQuotient("idiv", "v1", d)}; let b = ${paramQuotient("mod", "v1", e)};`
    expect(liftConstants([text(1024, 9)])[0]!.wgsl).toBe("\nlet a = (v1 >> 10u); let b = (v1 % 9);")
    const [x, y] = liftConstants([text(1024, 9), text(256, 12)])
    expect(x!.wgsl).toBe(y!.wgsl)
    expect(x!.wgsl).toContain("let a = (v1 >> u32(sdf_p[0][0]));")
    expect(x!.wgsl).toContain("let b = sdf_imod(v1, sdf_p[0][1], bitcast<f32>(sdf_p[0][2]));")
    const reciprocal = (d: number) => new Uint32Array(new Float32Array([1 / d]).buffer)[0]!
    expect([...x!.params!]).toEqual([10, 9, reciprocal(9), 0])
    expect([...y!.params!]).toEqual([8, 12, reciprocal(12), 0])
    // A power of two and another divisor at one position share the form and divide through sdf_idiv.
    const [p, q] = liftConstants([text(1024, 9), text(1000, 9)])
    expect(p!.wgsl).toBe(q!.wgsl)
    expect(p!.wgsl).toContain("let a = sdf_idiv(v1, sdf_p[0][0], bitcast<f32>(sdf_p[0][1]));")
    expect(p!.wgsl).toContain("let b = (v1 % 9);")
    expect([...p!.params!]).toEqual([1024, reciprocal(1024), 0, 0])
    expect([...q!.params!]).toEqual([1000, reciprocal(1000), 0, 0])
    // A registry's shifting variant serves later powers of two, and not other divisors.
    const forms = new FormRegistry()
    const [shifting] = liftConstants([text(1024, 9), text(256, 9)], forms)
    expect(liftConstants([text(64, 9)], forms)[0]!.wgsl).toBe(shifting!.wgsl)
    const [dividing] = liftConstants([text(48, 9)], forms)
    expect(dividing!.wgsl).toContain("sdf_idiv(v1")
    expect(liftConstants([text(4096, 9)], forms)[0]!.wgsl).toBe(shifting!.wgsl)
    // Kept a literal, a power of two is a shift or a mask; any other divisor WGSL's own division.
    expect(liftConstants([paramQuotient("idiv", "k", 32)])[0]!.wgsl).toBe("(k >> 5u)")
    expect(liftConstants([paramQuotient("mod", "k", 9)])[0]!.wgsl).toBe("(k % 9)")
    expect(() => paramQuotient("idiv", "(a + b)", 3)).toThrow("must be a name")
  })

  test("texts of different forms never share, whatever their values", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: -1000, max: 1000 })), { minLength: 1, maxLength: 12 }), (kernels) => {
        const texts = kernels.map(([shape, v]) => `${paramsDeclaration(1)}\nform ${shape}: ${param(v)}`)
        const lifted = liftConstants(texts)
        // Every kernel's value is recovered from its own text and parameters.
        lifted.forEach((k, i) => {
          const [shape, v] = kernels[i]!
          expect(k.wgsl).toContain(`form ${shape}: `)
          const shown = k.wgsl.split(": ").at(-1)!
          expect(shown === String(v) || shown === `(${v})` ? v : k.params![0]! | 0).toBe(v)
          expect(k.wgsl).not.toMatch(/[\u27e8\u27e9]/)
        })
        const distinctForms = new Set(kernels.map(([s]) => s)).size
        expect(new Set(lifted.map((k) => k.wgsl)).size).toBeLessThanOrEqual(kernels.length)
        expect(new Set(lifted.map((k) => k.wgsl.split("\n").at(-1)!.split(":")[0])).size).toBe(distinctForms)
      }),
    )
  })
})

/**
 * Layers of one form at different sizes: convolutions over different batches (the loaders' divisors —
 * spatial sizes, channel counts — stay literals, so those split forms), matmuls, reductions.
 */
const layers = (i: Record<string, Tensor>) => {
  const h1 = conv2d(i.x!, i.w1!, { padding: 1 }).add(i.b1!.reshape([1, 5, 1, 1])).silu()
  const h2 = conv2d(i.y!, i.w2!, { padding: 1 }).add(i.b2!.reshape([1, 5, 1, 1])).silu()
  const m1 = matmul(i.p!, i.q!).tanh()
  const m2 = matmul(i.r!, i.s!).tanh()
  return { h1, h2, m1, m2, s1: h1.square().sum([1, 2, 3]), s2: h2.square().sum([1, 2, 3]) }
}
const specs = {
  x: [4, 3, 8, 8], w1: [5, 3, 3, 3], b1: [5],
  y: [7, 3, 8, 8], w2: [5, 3, 3, 3], b2: [5],
  p: [9, 12], q: [12, 40], r: [17, 20], s: [20, 40],
}

describe("kernels of one form share a pipeline", () => {
  test("layers that differ only in size compile to fewer pipelines than kernels, and equal the oracle", async () => {
    const program = programOf(layers, specs)
    const lifted = renderProgramWgsl(program)
    const shared = new Set(lifted.map((k) => k.wgsl)).size
    expect(shared).toBeLessThan(program.kernels.length)
    expect(lifted.filter((k) => k.params).length).toBeGreaterThanOrEqual(4)
    // Rendered alone, a kernel keeps its sizes as literals (what SDEFLOW_DEBUG shows for one kernel).
    expect(renderWgsl(program, program.kernels[0]!)).not.toContain("var<uniform> sdf_p")
    await expectBackendsAgree(gpu(), layers, specs, inputsFor(specs, 5), { tolerance: reduction, label: "shared forms" })
  })
})

/** The same bias-add and SiLU at two spatial sizes: only divisors of the thread's index tell them apart. */
const biasSilu = (i: Record<string, Tensor>) => ({
  a: i.x!.add(i.b!.reshape([1, 4, 1, 1])).silu(),
  c: i.y!.add(i.b!.reshape([1, 4, 1, 1])).silu(),
})

describe("elementwise kernels that differ in divisors share a pipeline", () => {
  test.each([
    { label: "powers of two (shifts)", x: [2, 4, 8, 8], y: [3, 4, 16, 16], call: ">> u32(sdf_p" },
    { label: "other divisors (sdf_idiv)", x: [2, 4, 6, 6], y: [3, 4, 10, 10], call: "sdf_idiv(gid, sdf_p" },
  ])("$label: one text, and equal to the oracle", async ({ x, y, call }) => {
    const shapes = { x, y, b: [4] }
    const program = programOf(biasSilu, shapes)
    const lifted = renderProgramWgsl(program)
    expect(program.kernels.length).toBe(2)
    expect(lifted[0]!.wgsl).toBe(lifted[1]!.wgsl)
    expect(lifted[0]!.wgsl).toContain(call)
    await expectBackendsAgree(gpu(), biasSilu, shapes, inputsFor(shapes, 11), { label: "divisors as parameters" })
  })
})

/** One 3×3 convolution + bias at two resolutions and channel counts: sizes big enough for the tiled template. */
const twoConvolutions = (i: Record<string, Tensor>) => ({
  a: conv2d(i.x!, i.w1!, { padding: 1 }).add(i.b!.reshape([1, 16, 1, 1])),
  c: conv2d(i.y!, i.w2!, { padding: 1 }).add(i.b!.reshape([1, 16, 1, 1])),
})

describe("convolutions that differ in size share a tiled pipeline", () => {
  test("8×8 with 8 channels and 16×16 with 16: one text, the loaders' divisors read as parameters, equal to the oracle", async () => {
    const shapes = { x: [4, 8, 8, 8], w1: [16, 8, 3, 3], y: [2, 16, 16, 16], w2: [16, 16, 3, 3], b: [16] }
    const program = programOf(twoConvolutions, shapes)
    expect(program.kernels.map((k) => k.tiled !== undefined)).toEqual([true, true])
    const lifted = renderProgramWgsl(program)
    expect(lifted[0]!.wgsl).toBe(lifted[1]!.wgsl)
    expect(lifted[0]!.wgsl).toMatch(/fn load_b[^}]*>> u32\(sdf_p/)
    expect([...lifted[0]!.params!]).not.toEqual([...lifted[1]!.params!])
    await expectBackendsAgree(gpu(), twoConvolutions, shapes, inputsFor(shapes, 21), { tolerance: reduction, label: "convolutions of one form" })
  })
  test("a narrow GEMM (128 columns) and a wide one (512) share a workgroup size, so one text", async () => {
    const shapes = { x: [2, 32, 8, 8], w1: [16, 32, 3, 3], y: [2, 16, 16, 16], w2: [16, 16, 3, 3], b: [16] }
    const program = await expectOneForm(twoConvolutions, shapes, 22, "narrow and wide convolutions")
    expect(program.kernels.map((k) => k.tiled?.n).sort()).toEqual([128, 512])
  })
})

/** Renders `fn` and expects all its kernels to be one form, and its outputs to equal the oracle's. */
const expectOneForm = async (fn: (i: Record<string, Tensor>) => Record<string, Tensor>, shapes: Record<string, number[]>, seed: number, label: string, options?: WgslOptions) => {
  const program = programOf(fn, shapes)
  expect(new Set(renderProgramWgsl(program, options).map((k) => k.wgsl)).size).toBe(1)
  await expectBackendsAgree(gpu(), fn, shapes, inputsFor(shapes, seed), { tolerance: reduction, label })
  return program
}

const threeWindows = (i: Record<string, Tensor>) => ({
  a: conv2d(i.x!, i.w1!, { padding: 1 }).add(i.b!.reshape([1, 16, 1, 1])),
  c: conv2d(i.y!, i.w2!).add(i.b!.reshape([1, 16, 1, 1])),
  d: conv2d(i.z!, i.w3!, { padding: 1, stride: 2 }).add(i.b!.reshape([1, 16, 1, 1])),
})

describe("a convolution's window, stride and padding are sizes like any other", () => {
  test("3×3, 1×1 and 3×3 with stride 2: one text, equal to the oracle", async () => {
    const shapes = { x: [2, 16, 16, 16], w1: [16, 16, 3, 3], y: [2, 32, 16, 16], w2: [16, 32, 1, 1], z: [2, 16, 32, 32], w3: [16, 16, 3, 3], b: [16] }
    const program = await expectOneForm(threeWindows, shapes, 43, "windows of one form")
    expect(program.kernels.map((k) => k.tiled !== undefined)).toEqual([true, true, true])
  })
})

describe("a k loop's length is a size like any other", () => {
  test("K = 27 (three chunks of 8 and a partial one) and K = 288 share a form over subgroups, and equal the oracle", async () => {
    const shapes = { x: [2, 3, 32, 32], w1: [16, 3, 3, 3], y: [2, 32, 16, 16], w2: [16, 32, 3, 3], b: [16] }
    const program = await expectOneForm(twoConvolutions, shapes, 47, "k loops of one form", { subgroupChunk: 8 })
    expect(program.kernels.map((k) => k.tiled?.k).sort()).toEqual([27, 288])
  })
})

describe("a slice's start is a size like any other", () => {
  test("slices starting at row 0 and at row 3 share one form, and equal the oracle", async () => {
    const fn = ({ x, y }: Record<string, Tensor>) => ({ a: x!.slice([0, 0], [4, 6]).exp().sum(1), b: y!.slice([3, 0], [8, 6]).exp().sum(1) })
    const shapes = { x: [8, 6], y: [10, 6] }
    const program = programOf(fn, shapes)
    expect(program.kernels.length).toBe(2)
    const lifted = renderProgramWgsl(program)
    expect(lifted[0]!.wgsl).toBe(lifted[1]!.wgsl)
    await expectBackendsAgree(gpu(), fn, shapes, inputsFor(shapes, 31), { tolerance: reduction, label: "slices of one form" })
  })
})

// A group norm's centring, scaled per channel: with one channel per group, the group and channel
// indices are equal by value, and must not be merged for that.
const centred = (x: Tensor, gamma: Tensor, groups: number) => {
  const grouped = x.reshape([x.shape[0]!, groups, -1])
  return grouped.sub(grouped.mean(2, true)).reshape(x.shape).mul(gamma.reshape([1, x.shape[1]!, 1, 1]))
}
const twoNorms = ({ x, gx, y, gy }: Record<string, Tensor>) => ({ a: centred(x!, gx!, 4), b: centred(y!, gy!, 4) })

describe("sizes equal only by value are not merged", () => {
  test("a group norm with one channel per group and one with two share their forms, and equal the oracle", async () => {
    const shapes = { x: [2, 4, 4, 4], gx: [4], y: [2, 8, 4, 4], gy: [8] }
    const program = programOf(twoNorms, shapes)
    const lifted = renderProgramWgsl(program)
    expect(lifted.length).toBe(4)
    expect(new Set(lifted.map((k) => k.wgsl)).size).toBe(2)
    await expectBackendsAgree(gpu(), twoNorms, shapes, inputsFor(shapes, 37), { tolerance: reduction, label: "group norms of one form" })
  })
})

describe("an addition's operands in one order", () => {
  test("exp(x) + y and z + exp(w) read their buffers in one order: one form, equal to the oracle", async () => {
    const fn = ({ x, y, z, w }: Record<string, Tensor>) => ({ a: x!.exp().add(y!), b: z!.add(w!.exp()) })
    const shapes = { x: [8, 6], y: [8, 6], z: [10, 6], w: [10, 6] }
    const lifted = renderProgramWgsl(programOf(fn, shapes))
    expect(lifted.length).toBe(2)
    expect(lifted[0]!.wgsl).toBe(lifted[1]!.wgsl)
    await expectBackendsAgree(gpu(), fn, shapes, inputsFor(shapes, 41), { label: "additions of one form" })
  })
})
