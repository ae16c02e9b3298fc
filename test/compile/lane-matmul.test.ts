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
  { name: "batched", specs: { a: [3, 17, 9], b: [3, 9, 300] }, fn: (i) => matmul(i.a!, i.b!), form: /1 batch axes/ },
  { name: "one buffer for both operands", specs: { x: [40, 12] }, fn: (i) => matmul(i.x!, i.x!.transpose()), form: /lanes on shared rows/ },
]

describe("the lane-layout matmul template", () => {
  for (const c of cases)
    test(`${c.name}: the expected form, equal to the oracle`, async () => {
      const program = programOf(c.fn, c.specs, { tiling: "always" })
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
    const program = programOf(fn, specs, { tiling: "always" })
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
      const exe = await webgpuExecutable(gpu(), programOf(fn, specs, { tiling: "always" }), { ...defaultTiles, matmulRows: rows, gemmRows: rows })
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

describe("CPU-adapter forms: row operand spread over subgroups, lane operand through a texture", () => {
  type FormCase = { name: string; specs: Record<string, number[]>; fn: (i: Record<string, Tensor>) => Record<string, Tensor>; texture: boolean }
  const formCases: FormCase[] = [
    // K = 20: two chunks of 8 and a remainder of 4 run plainly.
    { name: "vec4 columns, K past the last chunk", specs: { a: [19, 20], b: [20, 256] }, fn: (i) => ({ out: matmul(i.a!, i.b!).add(1) }), texture: true },
    { name: "x·Wᵀ, vec4 along k", specs: { x: [37, 64], w: [40, 64] }, fn: (i) => ({ out: matmul(i.x!, i.w!.transpose()).silu() }), texture: true },
    // K = 3 < one chunk: the plain loop only.
    { name: "K shorter than a chunk", specs: { a: [9, 3], b: [3, 64] }, fn: (i) => ({ out: matmul(i.a!, i.b!) }), texture: true },
    // A texture of more than one row (> 1024 texels: 24·256/4 = 1536) with a partial last row.
    { name: "an operand past one texture row", specs: { a: [5, 24], b: [24, 256] }, fn: (i) => ({ out: matmul(i.a!, i.b!) }), texture: true },
    { name: "odd sizes: scalar loads, no texture", specs: { a: [33, 20], b: [20, 261] }, fn: (i) => ({ out: matmul(i.a!, i.b!) }), texture: false },
    {
      name: "a convolution and both gradients (loader form: subgroups only)",
      specs: { x: [2, 3, 6, 8], w: [5, 3, 3, 3], g: [2, 5, 6, 8] },
      fn: (i) => {
        const y = conv2d(i.x!, i.w!, { padding: 1 })
        const [gx, gw] = grad(y.mul(i.g!).sum(), [i.x!, i.w!])
        return { y, gx: gx!, gw: gw! }
      },
      texture: false,
    },
  ]
  for (const c of formCases)
    test(`${c.name}: both forms equal the oracle`, async () => {
      const subgroups = gpu().features.has("subgroups") && gpu().adapter.subgroupMinSize >= 8
      const program = programOf(c.fn, c.specs, { tiling: "always" })
      const on = { ...defaultTiles, subgroupChunk: subgroups ? 8 : 0, laneTextures: true }
      const off = { ...defaultTiles, subgroupChunk: 0, laneTextures: false }
      const titles = program.kernels.filter((k) => k.tiled).map((k) => renderWgsl(program, k, on).split("\n")[0]!)
      expect(titles.length).toBeGreaterThan(0)
      for (const title of titles) {
        expect(title.includes("rows spread over subgroups of 8")).toBe(subgroups)
        expect(title.includes("lane operand from a texture")).toBe(c.texture)
      }
      const inputs = inputsFor(c.specs, 3)
      const expected = await runOnce("cpu", c.fn, c.specs, inputs, { precision: "f32" })
      for (const options of [on, off]) {
        const exe = await webgpuExecutable(gpu(), program, options)
        try {
          exe.poison()
          exe.run(inputs)
          await exe.check()
          for (const name of Object.keys(expected)) expectClose(await exe.read(name), expected[name]!, reduction, `${c.name}: ${name}, ${options.laneTextures ? "new" : "old"} forms`)
        } finally {
          exe.destroy()
        }
      }
    })

  test("a texture operand is refreshed on every run (new inputs, same executable)", async () => {
    const specs = { a: [8, 16], b: [16, 64] }
    const fn = (i: Record<string, Tensor>) => ({ out: matmul(i.a!, i.b!) })
    const exe = await webgpuExecutable(gpu(), programOf(fn, specs, { tiling: "always" }), { ...defaultTiles, laneTextures: true })
    try {
      for (const seed of [1, 2]) {
        const inputs = inputsFor(specs, seed)
        exe.run(inputs)
        const expected = await runOnce("cpu", fn, specs, inputs, { precision: "f32" })
        expectClose(await exe.read("out"), expected.out!, reduction, `seed ${seed}`)
      }
      await exe.check()
    } finally {
      exe.destroy()
    }
  })
})
