/**
 * Every primitive's vector–Jacobian product against float64 central differences on the CPU oracle,
 * grad-of-grad (Hessian–vector products) of a small MLP, gradients on WGSL, and the structural promise
 * that the gradient of a matmul is made of matmuls.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { compile } from "../../src/compile/compile.ts"
import { grad, valueAndGrad, vjp } from "../../src/ir/autodiff.ts"
import { topoSort } from "../../src/ir/node.ts"
import { sizeOf } from "../../src/ir/shape.ts"
import { concat, conv2d, conv2dGradInput, conv2dGradWeight, input, matmul, stopGradient, where, type Tensor } from "../../src/ir/tensor.ts"
import { expectBackendsAgree, randomData, reduction, useGpu } from "../support/backends.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const gpu = useGpu()
/** Limit for tests that build several matmul pipelines on lavapipe. */
const SLOW = 60_000

type Fn = (i: Record<string, Tensor>) => Tensor
type Specs = Record<string, number[]>

interface CheckOptions {
  /** Data per input (default: uniform in [lo, hi)). */
  readonly data?: Record<string, ArrayLike<number>>
  readonly lo?: number
  readonly hi?: number
  readonly seed?: number
  /** Inputs to differentiate with respect to (default: all). */
  readonly wrt?: readonly string[]
  readonly rtol?: number
}

const H = 1e-6

/**
 * Compares grad of L = Σ f(x)·c (c a fixed random cotangent) with central differences of L in float64.
 * Each checked gradient element must satisfy |AD − FD| ≤ rtol·(|AD| + 1e-3): central differences with
 * h = 1e-6 are accurate to ~1e-9 absolute for the O(1) losses used here.
 */
const checkGradient = async (f: Fn, specs: Specs, options: CheckOptions = {}): Promise<void> => {
  const names = options.wrt ?? Object.keys(specs)
  const outShape = f(Object.fromEntries(Object.entries(specs).map(([n, s]) => [n, input(n, s)]))).shape
  const allSpecs: Specs = { ...specs, cotangent: [...outShape] }
  const loss = (i: Record<string, Tensor>) => f(i).mul(i.cotangent!).sum()
  const gradients = await compile(
    (i) => {
      const gs = grad(loss(i), names.map((n) => i[n]!))
      return Object.fromEntries(names.map((n, k) => [n, gs[k]!]))
    },
    allSpecs,
    { backend: "cpu", precision: "f64" },
  )
  const value = await compile(loss, allSpecs, { backend: "cpu", precision: "f64" })
  const seed = options.seed ?? 1
  const data: Record<string, Float64Array | number> = {}
  Object.entries(allSpecs).forEach(([name, shape], k) => {
    const given = options.data?.[name]
    const values = Float64Array.from(given ?? randomData(sizeOf(shape), seed + 101 * k, name === "cotangent" ? -1 : options.lo ?? -2, name === "cotangent" ? 1 : options.hi ?? 2))
    data[name] = shape.length === 0 ? values[0]! : values
  })
  gradients.run(data)
  const lossAt = async (name: string, j: number, delta: number): Promise<number> => {
    const current = data[name]!
    if (typeof current === "number") data[name] = current + delta
    else current[j]! += delta
    value.run(data)
    const l = (await value.read("out"))[0]!
    if (typeof current === "number") data[name] = current
    else current[j]! -= delta
    return l
  }
  const rtol = options.rtol ?? 1e-5
  for (const name of names) {
    const analytic = await gradients.read(name)
    const failures: string[] = []
    for (let j = 0; j < analytic.length; j++) {
      const fd = ((await lossAt(name, j, H)) - (await lossAt(name, j, -H))) / (2 * H)
      const ad = analytic[j]!
      if (!(Math.abs(ad - fd) <= rtol * (Math.abs(ad) + 1e-3))) failures.push(`∂/∂${name}[${j}]: autodiff ${ad}, finite difference ${fd}`)
    }
    if (failures.length > 0) throw new Error(`${failures.length} of ${analytic.length} gradient elements wrong:\n${failures.slice(0, 6).join("\n")}`)
  }
}

describe("unary vjps match central differences", () => {
  const cases: [string, Fn, number, number][] = [
    ["neg", (i) => i.x!.neg(), -2, 2],
    ["abs (away from 0)", (i) => i.x!.abs(), 0.2, 2],
    ["abs of negatives", (i) => i.x!.abs(), -2, -0.2],
    ["exp", (i) => i.x!.exp(), -2, 2],
    ["log", (i) => i.x!.log(), 0.2, 3],
    ["log1p", (i) => i.x!.log1p(), -0.5, 3],
    ["expm1", (i) => i.x!.expm1(), -2, 2],
    ["sqrt", (i) => i.x!.sqrt(), 0.2, 3],
    ["rsqrt", (i) => i.x!.rsqrt(), 0.2, 3],
    ["sin", (i) => i.x!.sin(), -3, 3],
    ["cos", (i) => i.x!.cos(), -3, 3],
    ["tanh", (i) => i.x!.tanh(), -3, 3],
    ["sigmoid", (i) => i.x!.sigmoid(), -4, 4],
    ["silu", (i) => i.x!.silu(), -4, 4],
    ["softplus", (i) => i.x!.softplus(), -4, 4],
    ["square", (i) => i.x!.square(), -2, 2],
    ["reciprocal", (i) => i.x!.reciprocal(), 0.3, 3],
  ]
  for (const [name, f, lo, hi] of cases) test(name, () => checkGradient(f, { x: [3, 4] }, { lo, hi }))

  test("erf (the derivative of the exact erf, within the A&S approximation's slope error)", async () => {
    await checkGradient((i) => i.x!.erf(), { x: [3, 4] }, { lo: -2, hi: 2, rtol: 2e-4 })
  })

  test("floor and sign have zero gradient (and so do their finite differences away from steps)", async () => {
    await checkGradient((i) => i.x!.mul(1.5).floor().add(i.x!.sign()).mul(i.x!), { x: [8] }, { data: { x: [0.1, 0.4, 0.5, 0.9, -0.2, -0.4, 1.1, -1.2] } })
  })
})

describe("binary vjps match central differences (with broadcasting)", () => {
  const specs = { x: [3, 4], y: [4] }
  test("add", () => checkGradient((i) => i.x!.add(i.y!), specs))
  test("sub", () => checkGradient((i) => i.x!.sub(i.y!), specs))
  test("mul", () => checkGradient((i) => i.x!.mul(i.y!), specs))
  test("div", () => checkGradient((i) => i.x!.div(i.y!), specs, { lo: 0.5, hi: 2 }))
  test("pow in base and exponent", () => checkGradient((i) => i.x!.pow(i.y!), specs, { lo: 0.3, hi: 2 }))
  test("pow with an integer exponent of negative bases", () => checkGradient((i) => i.x!.pow(3), { x: [6] }, { lo: -2, hi: -0.2 }))
  test("maximum and minimum route the gradient to the larger/smaller operand", () =>
    checkGradient((i) => i.x!.maximum(i.y!).add(i.x!.minimum(i.y!).mul(2)), specs))
  test("where routes to the chosen branch; the condition gets none", () =>
    checkGradient((i) => where(i.c!.gt(0), i.x!.mul(i.x!), i.y!.sin()), { c: [3, 1], x: [3, 4], y: [4] }, { wrt: ["x", "y"] }))
  test("stopGradient blocks its operand's gradient; the rest flows", async () => {
    const x = [0.5, -1, 2]
    const exe = await compile(({ x }) => grad(stopGradient(x.square()).mul(x).sum(), [x])[0]!, { x: [3] }, { backend: "cpu", precision: "f64" })
    exe.run({ x })
    expect(Array.from(await exe.read("out"))).toEqual(x.map((v) => v * v)) // not 3x², the full derivative of x³
  })
  test("a scalar (uniform) input gets the summed gradient", () => checkGradient((i) => i.x!.mul(i.t!).exp(), { x: [5], t: [] }))
})

describe("reduction vjps match central differences", () => {
  const specs = { x: [3, 4, 2] }
  for (const op of ["sum", "max", "logsumexp", "mean", "min"] as const)
    for (const [axes, keep] of [[[1], false], [[0, 2], true], [undefined, false]] as const)
      test(`${op} over ${axes ? `[${axes}]` : "all axes"}${keep ? " keepdims" : ""}`, () =>
        checkGradient((i) => i.x![op](axes as number[] | undefined, keep).mul(1.5), specs))
  test("softmax and variance (composites)", () => checkGradient((i) => i.x!.softmax(1).add(i.x!.variance([0, 2], true)), specs))
})

describe("movement vjps match central differences", () => {
  const specs = { x: [2, 3, 4] }
  const cases: [string, Fn][] = [
    ["reshape", (i) => i.x!.reshape([4, 6]).square()],
    ["permute", (i) => i.x!.permute([2, 0, 1]).mul(i.x!.permute([2, 0, 1]).sin())],
    ["transpose", (i) => i.x!.transpose(0, 2).exp()],
    ["broadcastTo (expand)", (i) => i.x!.slice([0, 0, 0], [2, 1, 4]).broadcastTo([5, 2, 3, 4]).sin()],
    ["slice with starts and steps", (i) => i.x!.slice([1, 1, 0], [2, 3, 4], [1, 2, 3]).exp()],
    ["pad", (i) => i.x!.pad([[1, 0], [0, 2], [1, 1]], 0.5).square()],
    ["flip", (i) => i.x!.flip([0, 2]).mul(i.x!)],
    ["concat", (i) => concat([i.x!, i.x!.square(), i.x!.slice([0, 0, 0], [2, 3, 1])], 2).sin()],
  ]
  for (const [name, f] of cases) test(name, () => checkGradient(f, specs))
})

describe("contraction vjps match central differences", () => {
  test("batched matmul", () => checkGradient((i) => matmul(i.a!, i.b!), { a: [2, 3, 4], b: [2, 4, 5] }))
  test("matmul with a broadcast batch", () => checkGradient((i) => matmul(i.a!, i.b!), { a: [3, 1, 2, 3], b: [2, 3, 2] }))
  test("matmul with 1-D operands", () => checkGradient((i) => matmul(i.v!, i.b!).add(matmul(i.b!, i.w!).sum()), { v: [4], b: [4, 3], w: [3] }))
  for (const [stride, padding] of [[1, 0], [1, 1], [2, 0], [2, 1]] as const)
    test(`conv2d stride ${stride} padding ${padding}, odd sizes`, () =>
      checkGradient((i) => conv2d(i.x!, i.w!, { stride, padding }), { x: [2, 2, 5, 4], w: [3, 2, 3, 2] }, { lo: -1, hi: 1 }))

  const s = 2
  const p = 1
  const xShape = [2, 2, 5, 4]
  test("conv2d's input-gradient kernel has correct vjps (grad of grad)", () =>
    checkGradient((i) => conv2dGradInput(i.g!, i.w!, xShape, s, p), { g: [2, 3, 3, 3], w: [3, 2, 3, 2] }, { lo: -1, hi: 1 }))
  test("conv2d's weight-gradient kernel has correct vjps (grad of grad)", () =>
    checkGradient((i) => conv2dGradWeight(i.x!, i.g!, [3, 2, 3, 2], s, p), { x: xShape, g: [2, 3, 3, 3] }, { lo: -1, hi: 1 }))
})

// ---------------------------------------------------------------------------------------------------
// Second order
// ---------------------------------------------------------------------------------------------------

const mlpSpecs = { x: [4, 2], w1: [2, 8], b1: [8], w2: [8, 1], b2: [1] }
const params = ["w1", "b1", "w2", "b2"] as const
/** 2 → 8 → 1 with a tanh and a silu, the shape of a tiny score network. */
const mlp = (i: Record<string, Tensor>): Tensor => matmul(matmul(i.x!, i.w1!).add(i.b1!).tanh().silu(), i.w2!).add(i.b2!)
const mlpLoss = (i: Record<string, Tensor>): Tensor => mlp(i).square().mean()

describe("second order", () => {
  test("Hessian–vector products of a small MLP (vjp of grad) equal central differences of its gradient", async () => {
    const vSpecs = Object.fromEntries(params.map((n) => [`v_${n}`, mlpSpecs[n]]))
    const allSpecs = { ...mlpSpecs, ...vSpecs }
    const gradientOf = (i: Record<string, Tensor>) => grad(mlpLoss(i), params.map((n) => i[n]!))
    const hvp = await compile(
      (i: Record<string, Tensor>) => {
        const g = gradientOf(i)
        const directional = params.map((n, k) => g[k]!.mul(i[`v_${n}`]!).sum()).reduce((a, b) => a.add(b))
        const h = grad(directional, params.map((n) => i[n]!))
        return Object.fromEntries(params.map((n, k) => [n, h[k]!]))
      },
      allSpecs,
      { backend: "cpu", precision: "f64" },
    )
    const gradient = await compile((i) => Object.fromEntries(gradientOf(i).map((g, k) => [params[k]!, g])), mlpSpecs, { backend: "cpu", precision: "f64" })
    const data: Record<string, Float64Array> = Object.fromEntries(Object.entries(allSpecs).map(([n, s], k) => [n, Float64Array.from(randomData(sizeOf(s), 40 + k, -1, 1))]))
    hvp.run(data)
    const at = async (sign: number) => {
      const shifted = { ...data }
      for (const n of params) shifted[n] = data[n]!.map((v, j) => v + sign * H * data[`v_${n}`]![j]!)
      gradient.run(Object.fromEntries(Object.keys(mlpSpecs).map((n) => [n, shifted[n]!])))
      return Object.fromEntries(await Promise.all(params.map(async (n) => [n, Float64Array.from(await gradient.read(n))] as const)))
    }
    const [plus, minus] = [await at(1), await at(-1)]
    for (const n of params) {
      const analytic = await hvp.read(n)
      analytic.forEach((ad, j) => {
        const fd = (plus[n]![j]! - minus[n]![j]!) / (2 * H)
        expect(Math.abs(ad - fd)).toBeLessThanOrEqual(1e-5 * (Math.abs(ad) + 1e-3))
      })
    }
  })

  test("the parameter gradient of |∇ₓ f|² (score-matching style grad of grad) matches central differences", () =>
    checkGradient((i) => grad(mlp(i).sum(), [i.x!])[0]!.square().sum(), mlpSpecs, { wrt: params, lo: -1, hi: 1 }))
})

// ---------------------------------------------------------------------------------------------------
// WGSL, and the shape of gradient programs
// ---------------------------------------------------------------------------------------------------

describe("gradients on WGSL", () => {
  const data = Object.fromEntries(Object.entries(mlpSpecs).map(([n, s], k) => [n, randomData(sizeOf(s), 70 + k, -1, 1)]))

  test("the MLP loss and its parameter gradients agree with the oracle", async () => {
    await expectBackendsAgree(gpu(), (i) => {
      const [loss, gs] = valueAndGrad(mlpLoss(i), params.map((n) => i[n]!))
      return { loss, ...Object.fromEntries(gs.map((g, k) => [params[k]!, g])) }
    }, mlpSpecs, data, { tolerance: reduction })
  }, SLOW)

  test("conv2d gradients (stride 2, padding 1) agree with the oracle", async () => {
    const specs = { x: [2, 3, 7, 5], w: [4, 3, 3, 3] }
    const inputs = { x: randomData(210, 3), w: randomData(108, 4) }
    await expectBackendsAgree(gpu(), ({ x, w }) => {
      const [gx, gw] = grad(conv2d(x, w, { stride: 2, padding: 1 }).silu().sum(), [x, w])
      return { gx: gx!, gw: gw! }
    }, specs, inputs, { tolerance: reduction })
  }, SLOW)

  test("vjp of a softmax with an explicit cotangent agrees with the oracle", async () => {
    const specs = { x: [3, 5], c: [3, 5] }
    await expectBackendsAgree(gpu(), ({ x, c }) => vjp(x.softmax(-1), [x], c)[0]!, specs, { x: randomData(15, 8), c: randomData(15, 9) }, { tolerance: reduction })
  })
})

describe("gradient program structure", () => {
  test("the gradient of a matmul is made of matmuls, never a reduction over an M×K×N product", () => {
    const [m, k, n] = [6, 7, 5]
    const a = input("a", [m, k])
    const b = input("b", [k, n])
    const [ga, gb] = grad(matmul(a, b).tanh().sum(), [a, b])
    const nodes = topoSort([ga!.node, gb!.node])
    expect(nodes.filter((node) => node.op.kind === "matmul").length).toBeGreaterThanOrEqual(2)
    const productSized = nodes.filter((node) => node.op.kind === "reduce" && sizeOf(node.inputs[0]!.shape) >= m * k * n)
    expect(productSized).toEqual([])
  })
})
