/**
 * The strided matmul template (lanes on shared rows): each of its forms — plain, vec4 columns, vec4
 * along k, transposed for tall-thin outputs, batched, one buffer for both operands — equals the CPU
 * oracle with poisoned outputs, and the form chosen is the one the layout calls for.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { conv2d, grad, matmul, type Tensor } from "../../src/index.ts"
import { programOf } from "../../src/compile/compile.ts"
import { renderWgsl } from "../../src/compile/wgsl.ts"
import { expectBackendsAgree, expectClose, inputsFor, reduction, runOnce, useGpu } from "../support/backends.ts"
import { webgpuExecutable } from "../../src/runtime/webgpu-executable.ts"
import { defaultTiles } from "../../src/compile/tiled-matmul.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const gpu = useGpu()

type Case = { name: string; specs: Record<string, number[]>; fn: (i: Record<string, Tensor>) => Tensor; form: RegExp }

const cases: Case[] = [
  { name: "odd sizes, scalar loads", specs: { a: [33, 20], b: [20, 261] }, fn: (i) => matmul(i.a!, i.b!).add(1), form: /64 lanes on shared rows; epilogue/ },
  { name: "vec4 columns", specs: { a: [19, 32], b: [32, 256] }, fn: (i) => matmul(i.a!, i.b!), form: /vec4 columns, vec4 stores/ },
  { name: "x·Wᵀ of a thin layer: transposed, vec4 along k", specs: { x: [300, 64], w: [5, 64] }, fn: (i) => matmul(i.x!, i.w!.transpose()).silu(), form: /\(transposed\), vec4 along k/ },
  { name: "gᵀ·x (a weight gradient), few columns: fewer lanes", specs: { g: [37, 6], x: [37, 10] }, fn: (i) => matmul(i.g!.transpose(), i.x!), form: /8 lanes on shared rows; / },
  { name: "tall and thin, strided: transposed, scalar loads", specs: { a: [300, 7], b: [7, 3] }, fn: (i) => matmul(i.a!, i.b!), form: /\(transposed\); / },
  { name: "batched", specs: { a: [3, 17, 9], b: [3, 9, 300] }, fn: (i) => matmul(i.a!, i.b!), form: /\[3\] ×/ },
  { name: "one buffer for both operands", specs: { x: [40, 12] }, fn: (i) => matmul(i.x!, i.x!.transpose()), form: /lanes on shared rows/ },
]

describe("the lane-layout matmul template", () => {
  for (const c of cases)
    test(`${c.name}: the expected form, equal to the oracle`, async () => {
      const program = programOf(c.fn, c.specs)
      const tiled = program.kernels.filter((k) => k.tiled)
      expect(tiled.length).toBe(1)
      expect(renderWgsl(program, tiled[0]!).split("\n")[0]).toMatch(c.form)
      await expectBackendsAgree(gpu(), c.fn, c.specs, inputsFor(c.specs, 11), { tolerance: reduction, label: c.name })
    })
})

describe("implicit-GEMM convolutions in the lane layout", () => {
  test("store four adjacent columns as a vec4 exactly where the output layout allows, and equal the oracle", async () => {
    const specs = { x: [2, 3, 6, 8], w: [5, 3, 3, 3], g: [2, 5, 6, 8] }
    const fn = (i: Record<string, Tensor>) => {
      const y = conv2d(i.x!, i.w!, { padding: 1 })
      const [gx, gw] = grad(y.mul(i.g!).sum(), [i.x!, i.w!])
      return { y, gx: gx!, gw: gw! }
    }
    const program = programOf(fn, specs)
    const forms = Object.fromEntries(program.kernels.filter((k) => k.tiled?.gemm).map((k) => [k.ops.find((o) => o.startsWith("conv2d"))!, renderWgsl(program, k).split("\n")[0]!]))
    // Output rows of 8 (conv2d, its input gradient) are vec4-aligned; the weight gradient's 3·3·3 = 27 columns are not.
    expect(forms.conv2d).toContain("vec4 stores")
    expect(forms.conv2dGradInput).toContain("vec4 stores")
    expect(forms.conv2dGradWeight).not.toContain("vec4 stores")
    await expectBackendsAgree(gpu(), fn, specs, inputsFor(specs, 5), { tolerance: reduction, label: "conv" })
  })
})

describe("every rows-per-thread choice autotuning may pick", () => {
  const specs = { a: [21, 10], b: [10, 36], x: [2, 3, 5, 8], w: [6, 3, 3, 3] }
  const fn = (i: Record<string, Tensor>) => ({ mm: matmul(i.a!, i.b!).sin(), conv: conv2d(i.x!, i.w!, { padding: 1 }) })
  for (const rows of [4, 8, 16])
    test(`${rows} rows per thread (matmul and convolution) equal the oracle`, async () => {
      const inputs = inputsFor(specs, rows)
      const exe = await webgpuExecutable(gpu(), programOf(fn, specs), { ...defaultTiles, matmulRows: rows, gemmRows: rows })
      try {
        exe.poison()
        exe.run(inputs)
        await exe.check()
        const expected = await runOnce("cpu", fn, specs, inputs, { precision: "f32" })
        for (const name of ["mm", "conv"]) expectClose(await exe.read(name), expected[name]!, reduction, `${name} at ${rows} rows`)
      } finally {
        exe.destroy()
      }
    })
})
