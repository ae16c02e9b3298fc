/**
 * The fusion rule as a specification: how many kernels a program becomes, that fusing never changes
 * the numbers, and that no kernel binds more storage buffers than a shader stage allows.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { compile, programOf, trace } from "../../src/compile/compile.ts"
import { simplify } from "../../src/compile/simplify.ts"
import { movementKinds, topoSort } from "../../src/ir/node.ts"
import { concat, matmul, normal, type Tensor } from "../../src/ir/tensor.ts"
import { elementwise, expectBackendsAgree, expectClose, inputsFor, randomData, reduction, runOnce, useGpu } from "../support/backends.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const gpu = useGpu()

const beta = (t: Tensor): Tensor => t.mul(19.9).add(0.1)
/** One Euler–Maruyama step of the VP SDE with the analytic score of N(0, I): s(x) = −x. */
const vpStep = (i: Record<string, Tensor>): Tensor => {
  const [x, t, dt] = [i.x!, i.t!, i.dt!]
  const score = x.neg()
  const drift = x.mul(beta(t)).mul(-0.5).sub(beta(t).mul(score))
  return x.add(dt.mul(drift)).add(beta(t).mul(dt).sqrt().mul(normal(x.shape)))
}
const vpSpecs: Record<string, number[]> = { x: [4, 33], t: [], dt: [] }

/** Compute primitives of the simplified graph: what `fuse: false` must give one kernel each. */
type AnyFn = (i: Record<string, Tensor>) => Tensor | Record<string, Tensor>
const computePrimitives = (fn: AnyFn, specs: Record<string, number[]>): number => {
  const roots = simplify(Object.values(trace(fn, specs)))
  return topoSort(roots).filter((n) => !movementKinds.has(n.op.kind) && !["const", "input", "data"].includes(n.op.kind)).length
}

describe("kernel counts", () => {
  test("a VP Euler–Maruyama step with an analytic score and its noise is exactly one kernel", () => {
    expect(programOf(vpStep, vpSpecs).kernels.length).toBe(1)
  })

  test("softmax is at most two kernels (the logsumexp, then the elementwise epilogue)", () => {
    expect(programOf(({ x }) => x.softmax(-1), { x: [8, 10] }).kernels.length).toBeLessThanOrEqual(2)
  })

  test("matmul + bias + silu is one kernel (bias and activation are the matmul's epilogue)", () => {
    const program = programOf(({ x, w, b }) => matmul(x, w).add(b).silu(), { x: [16, 8], w: [8, 12], b: [12] })
    expect(program.kernels.length).toBe(1)
    expect(program.kernels[0]!.ops).toEqual(expect.arrayContaining(["matmul", "add", "silu"]))
  })

  test("x·Wᵀ with a small W copies Wᵀ once and the tiled matmul reads it row-major; a transposed operand as big as the product stays a view", async () => {
    const dense = programOf(({ x, w }) => matmul(x, w.transpose()), { x: [1024, 64], w: [32, 64] })
    expect(dense.kernels.map((k) => k.ops)).toEqual([["permute"], ["matmul"]])
    expect(dense.kernels[1]!.tiled).toBeDefined()
    const attention = programOf(({ v, a }) => matmul(v, a.transpose()), { v: [64, 64], a: [64, 64] })
    expect(attention.kernels.length).toBe(1)
    await expectBackendsAgree(gpu(), ({ x, w }) => matmul(x, w.transpose()), { x: [1024, 64], w: [32, 64] }, { x: randomData(1024 * 64, 5), w: randomData(32 * 64, 6) })
  })

  test("an elementwise value used twice is recomputed, not materialised", () => {
    expect(programOf(({ x }) => {
      const y = x.exp()
      return y.add(y.sin())
    }, { x: [64] }).kernels.length).toBe(1)
  })

  test("a normalisation downstream of a contraction whose epilogue is read twice recomputes x − mean", () => {
    // h (a matmul with a long epilogue, read twice) gets a buffer of its own; x − mean then costs one op
    // to recompute, however long h's own chain was, and is not materialised as a kernel of its own.
    const fn = ({ x, w }: Record<string, Tensor>) => {
      const h = matmul(x!, w!).mul(2).add(1).mul(3).sub(2).mul(0.5).add(4).mul(1.5).sub(0.25)
      const centred = h.sub(h.mean(1, true))
      return { a: h.square(), b: centred.mul(centred.square().mean(1, true).add(1e-6).rsqrt()) }
    }
    expect(programOf(fn, { x: [16, 8], w: [8, 12] }).kernels.map((k) => k.ops)).toEqual([
      ["matmul", "mul", "add", "mul", "sub", "mul", "add", "mul", "sub"],
      ["sum", "div"],
      ["sub", "square", "sum", "div", "add", "rsqrt"],
      ["sub", "mul", "square"],
    ])
  })

  test("a value read twice is materialised rather than recomputed in a tiled contraction's epilogue, and recomputed in a plain loop's", () => {
    const fn = ({ x, w, y }: Record<string, Tensor>) => {
      const s = y!.mul(2).add(1).exp()
      return { a: matmul(x!, w!).mul(s), b: s.sin() }
    }
    // 64×64×64 passes the tiling threshold: s (and b, its sibling) get a kernel, the epilogue reads s.
    const tiled = programOf(fn, { x: [64, 64], w: [64, 64], y: [64, 64] })
    expect(tiled.kernels.map((k) => [k.ops, k.tiled !== undefined])).toEqual([[["mul", "add", "exp", "sin"], false], [["matmul", "mul"], true]])
    // 8×64×64 does not: the loop kernel recomputes s.
    const loop = programOf(fn, { x: [8, 64], w: [64, 64], y: [8, 64] })
    expect(loop.kernels.map((k) => [k.ops, k.tiled !== undefined])).toEqual([[["mul", "add", "exp", "sin"], false], [["mul", "add", "exp", "matmul", "mul"], false]])
  })

  test("a transposed product read by a plain-loop matmul is a view of the product's buffer, not a copy", async () => {
    const fn = ({ a, b, y }: Record<string, Tensor>) => matmul(matmul(a!, b!).mul(2).transpose(), y!)
    const specs = { a: [4, 6], b: [6, 8], y: [4, 5] }
    expect(programOf(fn, specs).kernels.map((k) => k.ops)).toEqual([["matmul", "mul"], ["permute", "matmul"]])
    await expectBackendsAgree(gpu(), fn, specs, inputsFor(specs, 9), { tolerance: reduction, label: "transposed product" })
  })

  test("fuse: false gives one kernel per compute primitive", () => {
    const programs: [AnyFn, Record<string, number[]>][] = [
      [vpStep, vpSpecs],
      [(i) => i.x!.softmax(-1), { x: [8, 10] }],
      [(i) => matmul(i.x!, i.w!).add(i.b!).silu(), { x: [16, 8], w: [8, 12], b: [12] }],
    ]
    for (const [fn, specs] of programs) {
      const unfused = programOf(fn, specs, { fuse: false }).kernels.length
      expect(unfused).toBe(computePrimitives(fn, specs))
      expect(unfused).toBeGreaterThan(programOf(fn, specs).kernels.length)
    }
  })
})

describe("fusion never changes the numbers", () => {
  test("the VP step agrees fused vs unfused, on the oracle exactly and on WGSL within a few ulps", async () => {
    const inputs = { ...inputsFor({ x: [4, 33] }, 5), t: 0.3, dt: 0.01 }
    const run = { seed: 9, step: 4 }
    const fused = await runOnce("cpu", vpStep, vpSpecs, inputs, { ...run, precision: "f32" })
    const unfused = await runOnce("cpu", vpStep, vpSpecs, inputs, { ...run, precision: "f32", fuse: false })
    expect(Array.from(unfused.out!)).toEqual(Array.from(fused.out!))
    // Noise differs across backends by at most normalTolerance·sqrt(β dt), inside atol.
    const noiseTolerance = { rtol: 1e-5, atol: 1e-5 }
    const onGpu = await expectBackendsAgree(gpu(), vpStep, vpSpecs, inputs, { ...run, tolerance: noiseTolerance })
    const onGpuUnfused = await expectBackendsAgree(gpu(), vpStep, vpSpecs, inputs, { ...run, fuse: false, tolerance: noiseTolerance })
    expectClose(onGpuUnfused.gpu.out!, onGpu.gpu.out!, elementwise, "WGSL unfused vs fused")
  })

  test("softmax and matmul + bias + silu agree fused vs unfused on WGSL", async () => {
    const specs = { x: [16, 8], w: [8, 12], b: [12] }
    const inputs = inputsFor(specs, 12)
    const fn = ({ x, w, b }: { x: Tensor; w: Tensor; b: Tensor }) => ({ mlp: matmul(x, w).add(b).silu(), softmax: x.softmax(-1) })
    const fused = await expectBackendsAgree(gpu(), fn, specs, inputs, { tolerance: reduction })
    const unfused = await expectBackendsAgree(gpu(), fn, specs, inputs, { tolerance: reduction, fuse: false })
    for (const name of ["mlp", "softmax"]) expectClose(unfused.gpu[name]!, fused.gpu[name]!, reduction, name)
  }, 60_000)
})

describe("storage-buffer limit", () => {
  const names = Array.from({ length: 12 }, (_, i) => `x${i}`)
  const specs = Object.fromEntries(names.map((n) => [n, [40]]))
  const inputs = Object.fromEntries(names.map((n, i) => [n, randomData(40, 100 + i)]))
  const hostSum = (j: number) => names.reduce((s, n) => s + inputs[n]![j]!, 0)
  const maxStorage = () => gpu().limits.maxStorageBuffersPerShaderStage

  /** Every kernel reads at most limit − 1 buffers (one binding is its output). */
  const expectWithinLimit = (program: ReturnType<typeof programOf>, limit: number) => {
    for (const k of program.kernels) expect(k.reads.length).toBeLessThanOrEqual(limit - 1)
  }

  test("the sum of 12 inputs splits into kernels within the limit, and is still right", async () => {
    const fn = (i: Record<string, Tensor>) => names.map((n) => i[n]!).reduce((a, b) => a.add(b))
    const program = programOf(fn, specs, { maxStorageBuffers: maxStorage() })
    expect(program.kernels.length).toBeGreaterThan(1)
    expectWithinLimit(program, maxStorage())
    const { gpu: g } = await expectBackendsAgree(gpu(), fn, specs, inputs)
    expectClose(g.out!, Float32Array.from({ length: 40 }, (_, j) => hostSum(j)), { rtol: 1e-5, atol: 1e-5 }, "sum of 12")
  })

  test("twelve materialised scalar intermediates read by one kernel stay within the limit", async () => {
    // Each total is used twice, so it is materialised as a 0-d buffer (not a uniform).
    const fn = (i: Record<string, Tensor>) =>
      names.map((n) => i[n]!.sum()).map((s) => s.add(s.square())).reduce((a, b) => a.add(b))
    expectWithinLimit(programOf(fn, specs, { maxStorageBuffers: maxStorage() }), maxStorage())
    await expectBackendsAgree(gpu(), fn, specs, inputs, { tolerance: reduction })
  })

  test("a concat of 12 inputs stays within the limit", async () => {
    const fn = (i: Record<string, Tensor>) => concat(names.map((n) => i[n]!), 0).mul(2)
    expectWithinLimit(programOf(fn, specs, { maxStorageBuffers: maxStorage() }), maxStorage())
    const { gpu: g } = await expectBackendsAgree(gpu(), fn, specs, inputs)
    expect(g.out![40 * 11 + 3]).toBeCloseTo(2 * inputs.x11![3]!, 6)
  })
})
