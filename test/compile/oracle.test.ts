/**
 * WGSL == CPU oracle: random expression graphs (fast-check) and fixed programs per op family.
 * Both backends render the same Program, so these tests catch renderer disagreements, dispatch and
 * indexing mistakes, and anything a kernel forgets to write (outputs are poisoned with NaN first).
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test"
import fc from "fast-check"
import { binary, conv2d, concat, matmul, unary, where, type Tensor } from "../../src/ir/tensor.ts"
import { unaryOps, type BinaryOp, type UnaryOp } from "../../src/ir/node.ts"
import { gridFor, renderWgsl, WORKGROUP } from "../../src/compile/wgsl.ts"
import { programOf } from "../../src/compile/compile.ts"
import { elementwise, expectBackendsAgree, inputsFor, randomData, reduction, runOnce, useGpu } from "../support/backends.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const gpu = useGpu()
/** Per-test limit for the tests that compile many kernels (lavapipe compiles a pipeline in ~10 ms). */
const SLOW = 60_000

// ---------------------------------------------------------------------------------------------------
// A generator of random expression graphs over small shapes
// ---------------------------------------------------------------------------------------------------

type Shape = number[]
type Build = (inputs: Record<string, Tensor>) => Tensor
/** A generated subexpression: how to build it, a readable form for failure reports, and |value| ≤ bound. */
interface Expr {
  readonly build: Build
  readonly text: string
  readonly bound: number
  /** Contains a reduction or contraction (looser tolerance). */
  readonly loops: boolean
}
type Pick = fc.GeneratorValue

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1)
const show = (s: readonly number[]) => `[${s.join(",")}]`
/** Inputs hold values in [-2, 2). */
const INPUT_BOUND = 2
/** Values are rescaled whenever their bound exceeds this, so no expression overflows or cancels badly. */
const RESCALE_ABOVE = 4

class Graph {
  readonly specs: Record<string, number[]> = {}
  /** Contractions built so far; a graph may hold one, and only a third of graphs are allowed any. */
  private contractions: number
  constructor(private readonly g: Pick) {
    this.contractions = this.int(0, 2) === 0 ? 0 : 1
  }

  int(min: number, max: number): number {
    return this.g(fc.integer, { min, max })
  }
  pick<T>(...values: T[]): T {
    return values[this.int(0, values.length - 1)]!
  }

  /** A fresh input whose shape broadcasts to `shape` (some dims 1, maybe fewer leading dims). */
  leaf(shape: Shape, broadcast = true): Expr {
    let own = shape.map((d) => (broadcast && d > 1 && this.int(0, 3) === 0 ? 1 : d))
    if (broadcast && own.length > 0 && this.int(0, 3) === 0) own = own.slice(this.int(1, own.length))
    const name = `x${Object.keys(this.specs).length}`
    this.specs[name] = own
    const text = own.join() === shape.join() ? `${name}${show(own)}` : `${name}${show(own)}→${show(shape)}`
    return { build: (i) => i[name]!.broadcastTo(shape), text, bound: INPUT_BOUND, loops: false }
  }

  expr(shape: Shape, depth: number): Expr {
    if (depth <= 0) return this.leaf(shape)
    const kinds = ["leaf", "unary", "unary", "binary", "binary", "where", "compare", "reduce", "reduce", "reshape", "permute", "slice", "pad", "flip", "concat", "expand"]
    // At most one contraction per graph: a tiled matmul pipeline takes ~1 s to build on lavapipe.
    if (this.contractions === 0 && shape.length >= 2) kinds.push("matmul")
    if (this.contractions === 0 && shape.length === 4) kinds.push("conv2d", "conv2d")
    const e = this.node(this.pick(...kinds), shape, depth - 1)
    // Broadcasting operands may all have dropped a leading or size-1 dim: restore the asked-for shape.
    return this.rescale({ ...e, build: (i) => e.build(i).broadcastTo(shape) })
  }

  private rescale(e: Expr): Expr {
    if (e.bound <= RESCALE_ABOVE) return e
    const k = 1 / e.bound
    return { build: (i) => e.build(i).mul(k), text: `(${e.text})/${e.bound.toPrecision(3)}`, bound: 1, loops: e.loops }
  }

  private node(kind: string, shape: Shape, depth: number): Expr {
    switch (kind) {
      case "unary": return this.unary(shape, depth)
      case "binary": return this.binary(shape, depth)
      case "where": {
        const [a, b] = [this.leaf(shape), this.leaf(shape)]
        const [x, y] = [this.expr(shape, depth), this.expr(shape, depth)]
        return {
          build: (i) => where(a.build(i).gt(b.build(i)), x.build(i), y.build(i)),
          text: `where(${a.text} > ${b.text}, ${x.text}, ${y.text})`,
          bound: Math.max(x.bound, y.bound),
          loops: x.loops || y.loops,
        }
      }
      case "compare": {
        // Comparisons only of inputs: both backends see identical operands, so no rounding can flip them.
        const [a, b] = [this.leaf(shape), this.leaf(shape)]
        const fn = this.pick(...(Object.keys(compareMethod) as (keyof typeof compareMethod)[]))
        return { build: (i) => a.build(i)[compareMethod[fn]](b.build(i)).cast("f32"), text: `${fn}(${a.text}, ${b.text})`, bound: 1, loops: false }
      }
      case "reduce": return this.reduce(shape, depth)
      case "reshape": {
        const from = this.refactor(shape)
        const x = this.expr(from, depth)
        return { ...x, build: (i) => x.build(i).reshape(shape), text: `reshape(${x.text}, ${show(shape)})` }
      }
      case "permute": {
        const perm = this.permutation(shape.length)
        const from = new Array<number>(shape.length)
        perm.forEach((p, i) => (from[p] = shape[i]!))
        const x = this.expr(from, depth)
        return { ...x, build: (i) => x.build(i).permute(perm), text: `permute(${x.text}, ${show(perm)})` }
      }
      case "slice": {
        const starts = shape.map(() => this.int(0, 2))
        const steps = shape.map(() => this.int(1, 3))
        const from = shape.map((d, k) => starts[k]! + (d - 1) * steps[k]! + 1 + this.int(0, steps[k]! - 1))
        const x = this.expr(from, depth)
        const explicitEnds = this.int(0, 1) === 1
        const ends = explicitEnds ? shape.map((d, k) => starts[k]! + (d - 1) * steps[k]! + 1) : undefined
        return { ...x, build: (i) => x.build(i).slice(starts, ends, steps), text: `slice(${x.text}, ${show(starts)}:${ends ? show(ends) : ""}:${show(steps)})` }
      }
      case "pad": {
        const widths = shape.map((d): [number, number] => {
          const before = this.int(0, Math.min(2, d - 1))
          return [before, this.int(0, Math.min(2, d - 1 - before))]
        })
        const from = shape.map((d, k) => d - widths[k]![0] - widths[k]![1])
        const value = this.pick(0, 1.5, -2)
        const x = this.expr(from, depth)
        return { ...x, build: (i) => x.build(i).pad(widths, value), text: `pad(${x.text}, ${JSON.stringify(widths)}, ${value})`, bound: Math.max(x.bound, 2) }
      }
      case "flip": {
        if (shape.length === 0) return this.leaf(shape)
        const axes = shape.map((_, k) => k).filter(() => this.int(0, 1) === 1)
        const x = this.expr(shape, depth)
        if (axes.length === 0) return x
        return { ...x, build: (i) => x.build(i).flip(axes), text: `flip(${x.text}, ${show(axes)})` }
      }
      case "concat": {
        const axis = shape.findIndex((d) => d >= 2)
        if (axis < 0) return this.unary(shape, depth)
        const cut = this.int(1, shape[axis]! - 1)
        const parts = [cut, shape[axis]! - cut].map((len) => this.expr(shape.map((d, k) => (k === axis ? len : d)), depth))
        return {
          build: (i) => concat(parts.map((p) => p.build(i)), axis),
          text: `concat([${parts.map((p) => p.text).join(", ")}], ${axis})`,
          bound: Math.max(...parts.map((p) => p.bound)),
          loops: parts.some((p) => p.loops),
        }
      }
      case "expand": {
        if (shape.every((d) => d === 1)) return this.leaf(shape)
        const from = shape.map((d) => (d > 1 && this.int(0, 1) === 1 ? 1 : d))
        const x = this.expr(from, depth)
        return { ...x, build: (i) => x.build(i).broadcastTo(shape), text: `expand(${x.text}, ${show(shape)})` }
      }
      case "matmul": this.contractions++; return this.matmul(shape, depth)
      case "conv2d": this.contractions++; return this.conv(shape, depth)
      default: return this.leaf(shape)
    }
  }

  /** A unary op, made domain-safe (log of |x| + 0.1 and the like). */
  private unary(shape: Shape, depth: number): Expr {
    const fn = this.pick(...unaryOps.filter((f) => f !== "not"))
    if (fn === "floor" || fn === "sign") {
      // Discontinuous: applied to an input scaled by an exact power of two, so both backends see
      // the same operand and no rounding difference can move it across a step.
      const leaf = this.leaf(shape)
      return { build: (i) => leaf.build(i).mul(4)[fn](), text: `${fn}(4·${leaf.text})`, bound: 4 * INPUT_BOUND + 1, loops: false }
    }
    const x = this.expr(shape, depth)
    const B = x.bound
    const wrap = (text: string, bound: number, build: (t: Tensor) => Tensor): Expr => ({ build: (i) => build(x.build(i)), text: text.replace("X", x.text), bound, loops: x.loops })
    switch (fn) {
      case "log": return wrap("log(|X| + 0.1)", Math.max(2.31, Math.log(B + 0.1)), (t) => t.abs().add(0.1).log())
      case "log1p": return wrap("log1p(|X|)", Math.log1p(B), (t) => t.abs().log1p())
      case "sqrt": return wrap("sqrt(|X|)", Math.sqrt(B), (t) => t.abs().sqrt())
      case "rsqrt": return wrap("rsqrt(|X| + 0.1)", 3.17, (t) => t.abs().add(0.1).rsqrt())
      case "reciprocal": return wrap("1/(|X| + 0.5)", 2, (t) => t.abs().add(0.5).reciprocal())
      case "exp": return wrap("exp(X)", Math.exp(B), (t) => t.exp())
      case "expm1": return wrap("expm1(X)", Math.exp(B), (t) => t.expm1())
      case "square": return wrap("square(X)", B * B, (t) => t.square())
      case "softplus": return wrap("softplus(X)", B + 0.7, (t) => t.softplus())
      case "silu": return wrap("silu(X)", B, (t) => t.silu())
      case "neg": return wrap("neg(X)", B, (t) => t.neg())
      case "abs": return wrap("abs(X)", B, (t) => t.abs())
      default: return wrap(`${fn}(X)`, 1, (t) => t[fn]())
    }
  }

  private binary(shape: Shape, depth: number): Expr {
    const fn = this.pick<BinaryOp>("add", "sub", "mul", "div", "pow", "pow", "max", "min")
    const x = this.operand(shape, depth)
    if (fn === "pow" && this.int(0, 1) === 0) {
      // Integer exponents, including of negative bases (WGSL's pow alone is undefined there).
      const k = this.pick(2, 3)
      return { build: (i) => x.build(i).pow(k), text: `pow(${x.text}, ${k})`, bound: x.bound ** k, loops: x.loops }
    }
    const y = this.operand(shape, depth)
    const loops = x.loops || y.loops
    const text = (op: string) => `${op}(${x.text}, ${y.text})`
    switch (fn) {
      case "div":
        return { build: (i) => x.build(i).div(y.build(i).abs().add(0.5)), text: text("div·"), bound: 2 * x.bound, loops }
      case "pow":
        return { build: (i) => x.build(i).abs().add(0.5).pow(y.build(i).mul(1 / y.bound)), text: text("pow·"), bound: Math.max(x.bound + 0.5, 2), loops }
      default: {
        const method = { add: "add", sub: "sub", mul: "mul", max: "maximum", min: "minimum" } as const
        const bound = fn === "mul" ? x.bound * y.bound : fn === "add" || fn === "sub" ? x.bound + y.bound : Math.max(x.bound, y.bound)
        return { build: (i) => x.build(i)[method[fn as keyof typeof method]](y.build(i)), text: text(fn), bound, loops }
      }
    }
  }

  /** An operand of a broadcasting op: its own shape broadcasts to `shape`. */
  private operand(shape: Shape, depth: number): Expr {
    let own = shape.map((d) => (d > 1 && this.int(0, 4) === 0 ? 1 : d))
    if (own.length > 0 && this.int(0, 4) === 0) own = own.slice(1)
    return this.expr(own, depth)
  }

  private reduce(shape: Shape, depth: number): Expr {
    const fn = this.pick("sum", "max", "logsumexp", "mean", "min")
    const count = shape.length >= 4 ? 1 : this.int(1, 2)
    const from = [...shape]
    const axes: number[] = []
    for (let c = 0; c < count; c++) {
      const at = this.int(0, from.length)
      from.splice(at, 0, this.int(2, 4))
      axes.forEach((a, k) => (axes[k] = a >= at ? a + 1 : a))
      axes.push(at)
    }
    if (size(from) > 600) return this.leaf(shape)
    const keepdims = this.int(0, 1) === 1
    const n = axes.reduce((p, a) => p * from[a]!, 1)
    const x = this.expr(from, depth)
    const bound = fn === "sum" ? x.bound * n : fn === "logsumexp" ? x.bound + Math.log(n) : x.bound
    return {
      build: (i) => {
        const r = x.build(i)[fn](axes, keepdims)
        return keepdims ? r.reshape(shape) : r
      },
      text: `${fn}(${x.text}, axes=${show(axes)}${keepdims ? ", keepdims" : ""})`,
      bound,
      loops: true,
    }
  }

  private matmul(shape: Shape, depth: number): Expr {
    const [m, n] = shape.slice(-2) as [number, number]
    const batch = shape.slice(0, -2)
    const k = this.int(1, 5)
    const batchOf = () => {
      const own = batch.map((d) => (this.int(0, 2) === 0 ? 1 : d))
      return this.int(0, 2) === 0 ? own.slice(Math.min(1, own.length)) : own
    }
    const a = this.expr([...batchOf(), m, k], depth)
    const b = this.expr([...batchOf(), k, n], depth)
    return { build: (i) => matmul(a.build(i), b.build(i)), text: `matmul(${a.text}, ${b.text})`, bound: a.bound * b.bound * k, loops: true }
  }

  private conv(shape: Shape, depth: number): Expr {
    const [n, o, ho, wo] = shape as [number, number, number, number]
    const stride = this.int(1, 2)
    let padding = this.int(0, 1)
    const [c, kh, kw] = [this.int(1, 3), this.pick(1, 3, 2), this.pick(1, 3)]
    const extent = (out: number, k: number) => (out - 1) * stride + k - 2 * padding + this.int(0, stride - 1)
    let [h, w] = [extent(ho, kh), extent(wo, kw)]
    if (h < 1 || w < 1) {
      padding = 0
      ;[h, w] = [extent(ho, kh), extent(wo, kw)]
    }
    const x = this.expr([n, c, h, w], depth)
    const weight = this.expr([o, c, kh, kw], depth)
    return {
      build: (i) => conv2d(x.build(i), weight.build(i), { stride, padding }),
      text: `conv2d(${x.text}, ${weight.text}, stride ${stride}, padding ${padding})`,
      bound: x.bound * weight.bound * c * kh * kw,
      loops: true,
    }
  }

  /** A different shape with the same element count. */
  private refactor(shape: Shape): Shape {
    const choice = this.int(0, 3)
    if (choice === 0 || shape.length === 0) return [size(shape)]
    if (choice === 1 && shape.length >= 2) {
      const at = this.int(0, shape.length - 2)
      return [...shape.slice(0, at), shape[at]! * shape[at + 1]!, ...shape.slice(at + 2)]
    }
    if (choice === 2) {
      const at = this.int(0, shape.length - 1)
      const d = shape[at]!
      const f = [2, 3].find((p) => d % p === 0 && d > p)
      if (f) return [...shape.slice(0, at), f, d / f, ...shape.slice(at + 1)]
    }
    const at = this.int(0, shape.length)
    return [...shape.slice(0, at), 1, ...shape.slice(at)]
  }

  private permutation(rank: number): number[] {
    const p = Array.from({ length: rank }, (_, i) => i)
    for (let i = rank - 1; i > 0; i--) {
      const j = this.int(0, i)
      ;[p[i], p[j]] = [p[j]!, p[i]!]
    }
    return p
  }
}

const compareMethod = { lt: "lt", le: "le", gt: "gt", ge: "ge", eq: "eq", ne: "ne" } as const

// ---------------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------------

describe("random expression graphs", () => {
  test("WGSL equals the float32 oracle on random graphs of every op family, fused or not", async () => {
    await fc.assert(
      fc.asyncProperty(fc.gen(), fc.nat(), async (g, dataSeed) => {
        const graph = new Graph(g)
        const shape = Array.from({ length: graph.int(0, 4) }, () => graph.int(1, 5))
        const e = graph.expr(shape, graph.int(1, 4))
        const fuse = graph.int(0, 3) !== 0
        const specs = graph.specs
        const { cpu } = await expectBackendsAgree(gpu(), (i) => e.build(i), specs, inputsFor(specs, dataSeed), {
          tolerance: e.loops ? reduction : elementwise,
          label: `${fuse ? "" : "unfused "}${e.text}`,
          fuse,
        })
        // The generator is domain-safe: a NaN or ∞ here means it (not the compiler) is broken.
        expect(Array.from(cpu.out!).every(Number.isFinite)).toBe(true)
      }),
      { numRuns: 40 },
    )
  }, SLOW)
})

// ---------------------------------------------------------------------------------------------------
// Fixed programs per op family
// ---------------------------------------------------------------------------------------------------

/** Data away from each op's singularities: positive for log-like ops, away from 0 for reciprocals. */
const unaryDomain = (fn: UnaryOp, n: number): Float32Array => {
  const raw = randomData(n, 11, -3, 3)
  if (["log", "sqrt", "rsqrt"].includes(fn)) return raw.map((v) => Math.abs(v) + 0.05)
  if (fn === "log1p") return raw.map((v) => Math.abs(v) - 0.9)
  if (fn === "reciprocal") return raw.map((v) => (v < 0 ? v - 0.2 : v + 0.2))
  return raw
}

describe("unary ops", () => {
  for (const fn of unaryOps.filter((f) => f !== "not"))
    test(`${fn} agrees elementwise`, async () => {
      await expectBackendsAgree(gpu(), ({ x }) => x[fn](), { x: [5, 9] }, { x: unaryDomain(fn, 45) })
    })

  test("not negates a comparison", async () => {
    const { cpu } = await expectBackendsAgree(gpu(), ({ x }) => ({ out: x.gt(0).cast("bool"), negated: unary("not", x.gt(0)) }), { x: [8] }, { x: [-2, -1, -0.5, 0, 0.5, 1, 2, 3] })
    expect(Array.from(cpu.negated!)).toEqual([1, 1, 1, 1, 0, 0, 0, 0])
  })

  test("extreme arguments stay finite where the math does (tanh, sigmoid, softplus, log1p, expm1)", async () => {
    const x = [-100, -30, -1e-6, 0, 1e-6, 30, 100, 80]
    const fn = ({ x }: { x: Tensor }) => ({ tanh: x.tanh(), sigmoid: x.sigmoid(), softplus: x.softplus(), log1p: x.abs().log1p(), expm1: x.mul(1e-3).expm1() })
    const { gpu: g } = await expectBackendsAgree(gpu(), fn, { x: [8] }, { x })
    expect(Array.from(g.tanh!).map((v, i) => v === Math.fround(Math.tanh(x[i]!)) || Math.abs(v / Math.tanh(x[i]!) - 1) < 1e-6)).toEqual(new Array(8).fill(true))
    expect(Array.from(g.expm1!).slice(2, 5)).toEqual([-1e-9, 0, 1e-9].map((v) => expect.closeTo(v, 15)) as unknown as number[])
    expect(g.softplus![7]).toBeCloseTo(80, 4)
  })
})


describe("binary ops", () => {
  const floatOps = ["add", "sub", "mul", "div", "max", "min"] as const
  const method = { add: "add", sub: "sub", mul: "mul", div: "div", max: "maximum", min: "minimum" } as const
  for (const fn of floatOps)
    test(`${fn} agrees, with a broadcast right operand`, async () => {
      const y = randomData(7, 5).map((v) => (fn === "div" ? v + Math.sign(v) * 0.3 : v))
      await expectBackendsAgree(gpu(), ({ x, y }) => x[method[fn]](y), { x: [5, 7], y: [7] }, { x: randomData(35, 4), y })
    })

  test("pow: positive bases with any exponent, negative bases with integer exponents", async () => {
    const base = [0.5, 2, 3, -2, -2, -0.5, 0, 0, -3]
    const exponent = [1.5, -0.5, 2.25, 2, 3, -1, 2, 0, 0]
    const { cpu } = await expectBackendsAgree(gpu(), ({ x, y }) => x.pow(y), { x: [9], y: [9] }, { x: base, y: exponent })
    expect(Array.from(cpu.out!).slice(3)).toEqual([4, -8, -2, 0, 1, 1])
  })

  test("comparisons give 0/1 and agree exactly, including ties", async () => {
    const x = [1, 2, 3, -1, 0, 2.5]
    const y = [1, 3, 2, -1, -0, 2.5000002]
    const ops = { lt: "lt", le: "le", gt: "gt", ge: "ge", eq: "eq", ne: "ne" } as const
    const fn = ({ x, y }: { x: Tensor; y: Tensor }) => Object.fromEntries(Object.keys(ops).map((k) => [k, x[k as keyof typeof ops](y)]))
    const { gpu: g } = await expectBackendsAgree(gpu(), fn, { x: [6], y: [6] }, { x, y }, { tolerance: { rtol: 0, atol: 0 } })
    expect(Array.from(g.eq!)).toEqual([1, 0, 0, 1, 1, 0])
    expect(Array.from(g.lt!)).toEqual([0, 1, 0, 0, 0, 1])
  })

  test("and / or combine boolean tensors", async () => {
    const fn = ({ x, y }: { x: Tensor; y: Tensor }) => {
      const [a, b] = [x.gt(0), y.gt(0)]
      return { and: binary("and", a, b), or: binary("or", a, b) }
    }
    const { gpu: g } = await expectBackendsAgree(gpu(), fn, { x: [4], y: [4] }, { x: [1, 1, -1, -1], y: [1, -1, 1, -1] })
    expect(Array.from(g.and!)).toEqual([1, 0, 0, 0])
    expect(Array.from(g.or!)).toEqual([1, 1, 1, 0])
  })
})


describe("integer and boolean tensors", () => {
  const ints = { k: { shape: [6], dtype: "i32" as const }, j: { shape: [6], dtype: "i32" as const } }
  const k = [7, -7, 3, 0, -5, 12]
  const j = [2, 2, -4, 5, 3, -5]

  test("i32 arithmetic truncates like C and stays integral", async () => {
    const fn = ({ k, j }: { k: Tensor; j: Tensor }) => ({ add: k.add(j), sub: k.sub(j), mul: k.mul(j), div: k.div(j), max: k.maximum(j), min: k.minimum(j), neg: k.neg(), abs: k.abs(), sign: k.sign() })
    const { gpu: g } = await expectBackendsAgree(gpu(), fn, ints, { k, j }, { tolerance: { rtol: 0, atol: 0 } })
    expect(g.div).toBeInstanceOf(Int32Array)
    expect(Array.from(g.div!)).toEqual([3, -3, 0, 0, -1, -2])
  })

  test("i32 comparisons and where with integer branches", async () => {
    const fn = ({ k, j }: { k: Tensor; j: Tensor }) => ({ out: where(k.gt(j), k, j), ge: k.ge(j) })
    const { gpu: g } = await expectBackendsAgree(gpu(), fn, ints, { k, j }, { tolerance: { rtol: 0, atol: 0 } })
    expect(Array.from(g.out!)).toEqual([7, 2, 3, 5, 3, 12])
  })

  test("i32 reductions: sum and max", async () => {
    const fn = ({ k }: { k: Tensor }) => ({ sum: k.sum(), max: k.max(), min: k.min() })
    const { gpu: g } = await expectBackendsAgree(gpu(), fn, { k: ints.k }, { k }, { tolerance: { rtol: 0, atol: 0 } })
    expect([g.sum![0], g.max![0], g.min![0]]).toEqual([10, 12, -7])
  })

  test("float-valued ops of integers promote to f32 (exp, sqrt, division by a float)", async () => {
    const fn = ({ k }: { k: Tensor }) => ({ exp: k.mul(0.1).exp(), sqrt: k.abs().sqrt(), log: k.abs().add(1).log(), half: k.div(2.0) })
    await expectBackendsAgree(gpu(), fn, { k: ints.k }, { k })
  })

  test("pow of two i32 tensors", async () => {
    const { gpu: g } = await expectBackendsAgree(gpu(), ({ k, j }) => k.pow(k.abs().minimum(j.abs())), ints, { k, j })
    expect(Array.from(g.out!)).toEqual([49, 49, 27, 1, -125, 248832].map((v) => expect.closeTo(v, 1)) as unknown as number[])
  })

  test("float-valued unary ops applied directly to i32 tensors", async () => {
    const fn = ({ k }: { k: Tensor }) => ({ exp: k.abs().exp(), sin: k.sin(), sigmoid: k.sigmoid() })
    await expectBackendsAgree(gpu(), fn, { k: ints.k }, { k })
  })

  test("casts: f32 → i32 truncates toward zero, bool → f32 is 0/1, bool sums count", async () => {
    const fn = ({ x }: { x: Tensor }) => ({ trunc: x.cast("i32"), count: x.gt(0).sum(), mask: x.gt(0).cast("f32") })
    const { gpu: g } = await expectBackendsAgree(gpu(), fn, { x: [5] }, { x: [1.7, -1.7, 0.2, -0.2, 3] })
    expect(Array.from(g.trunc!)).toEqual([1, -1, 0, 0, 3])
    expect(g.count![0]).toBe(3)
  })
})

describe("where, reductions, movement, contractions", () => {
  test("where broadcasts condition and branches, with a scalar branch", async () => {
    await expectBackendsAgree(gpu(), ({ c, a }) => where(c.gt(0), a, -1), { c: [3, 1], a: [4] }, inputsFor({ c: [3, 1], a: [4] }, 3))
  })

  test("sum, max, logsumexp, mean over every axis subset, keepdims both ways", async () => {
    const shape = [2, 3, 4]
    const subsets = [[0], [1], [2], [0, 1], [0, 2], [1, 2], [0, 1, 2], [-1]]
    const fn = ({ x }: { x: Tensor }) => {
      const outs: Record<string, Tensor> = {}
      for (const axes of subsets)
        for (const keep of [false, true])
          for (const op of ["sum", "max", "logsumexp", "mean"] as const) outs[`${op}${axes.join("_")}${keep ? "k" : ""}`] = x[op](axes, keep)
      return outs
    }
    await expectBackendsAgree(gpu(), fn, { x: shape }, inputsFor({ x: shape }, 9), { tolerance: reduction })
  }, SLOW)

  test("logsumexp is stable for large inputs", async () => {
    const { gpu: g } = await expectBackendsAgree(gpu(), ({ x }) => x.logsumexp(), { x: [3] }, { x: [1000, 1000, 990] }, { tolerance: reduction })
    expect(g.out![0]).toBeCloseTo(1000 + Math.log(2 + Math.exp(-10)), 3)
  })

  test("movement ops compose: permute, strided slice, pad, flip, concat, expand, reshape", async () => {
    const fn = ({ x, y }: { x: Tensor; y: Tensor }) => {
      const a = x.permute([2, 0, 1]).slice([1, 0, 1], [undefined, undefined, undefined], [2, 1, 3]) // [3, 2, 2]
      const b = a.pad([[1, 0], [0, 2], [1, 1]], -3).flip([0, 2]) // [3, 4, 4]
      const c = concat([b, y.broadcastTo([4, 2, 4])], 1) // [4, 6, 4]
      return c.reshape([8, 12]).transpose()
    }
    const { gpu: g } = await expectBackendsAgree(gpu(), fn, { x: [2, 5, 7], y: [2, 1] }, inputsFor({ x: [2, 5, 7], y: [2, 1] }, 21), { tolerance: { rtol: 0, atol: 0 } })
    expect(g.out!.length).toBe(96)
  })

  test("padding with −∞ and +∞ in one program keeps the two values apart", async () => {
    const fn = ({ x }: { x: Tensor }) => ({ low: x.pad([[1, 0]], -Infinity).max(), high: x.pad([[1, 0]], Infinity), nan: x.pad([[0, 1]], NaN) })
    const { gpu: g } = await expectBackendsAgree(gpu(), fn, { x: [3] }, { x: [1, 2, 3] })
    expect(g.low![0]).toBe(3)
    expect(Array.from(g.high!)).toEqual([Infinity, 1, 2, 3])
    expect(Number.isNaN(g.nan![3])).toBe(true)
  })

  test("batched matmul with a broadcast batch and 1-D operands", async () => {
    const specs = { a: [2, 3, 4], b: [4, 5], v: [4], w: [3, 1, 4, 2] }
    const fn = ({ a, b, v, w }: Record<string, Tensor>) => ({ ab: matmul(a!, b!), av: matmul(a!, v!), vb: matmul(v!, b!), vv: matmul(v!, v!), aw: matmul(a!, w!) })
    await expectBackendsAgree(gpu(), fn, specs, inputsFor(specs, 31), { tolerance: reduction })
  }, SLOW)

  test("conv2d with stride 1–2, padding 0–1 and odd sizes", async () => {
    for (const [stride, padding] of [[1, 0], [1, 1], [2, 0], [2, 1]] as const) {
      const specs = { x: [2, 3, 7, 5], w: [4, 3, 3, 2] }
      await expectBackendsAgree(gpu(), ({ x, w }) => conv2d(x, w, { stride, padding }), specs, inputsFor(specs, stride * 10 + padding), {
        tolerance: reduction,
        label: `conv2d stride ${stride} padding ${padding}`,
      })
    }
  }, SLOW)
})

describe("outputs", () => {
  test("an output may be an input, a scalar input, or the same tensor under two names", async () => {
    const fn = ({ x, t }: { x: Tensor; t: Tensor }) => {
      const y = x.mul(t)
      return { x, t, y, alsoY: y }
    }
    const { gpu: g } = await expectBackendsAgree(gpu(), fn, { x: [3], t: [] }, { x: [1, 2, 3], t: 0.5 })
    expect([Array.from(g.x!), Array.from(g.t!), Array.from(g.y!), Array.from(g.alsoY!)]).toEqual([[1, 2, 3], [0.5], [0.5, 1, 1.5], [0.5, 1, 1.5]])
  })
})

describe("dispatch grid", () => {
  test("gridFor covers every thread, splits over y only past 65535 workgroups, and never leaves a whole row idle", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (threads) => {
        const [x, y] = gridFor(threads)
        expect(x).toBeGreaterThanOrEqual(1)
        expect(x).toBeLessThanOrEqual(65535)
        expect(x * y * WORKGROUP).toBeGreaterThanOrEqual(threads)
        expect(x * (y - 1) * WORKGROUP).toBeLessThan(Math.max(threads, 1))
        if (threads <= 65535 * WORKGROUP) expect(y).toBe(1)
      }),
    )
    expect(gridFor(0)).toEqual([1, 1])
    expect(gridFor(65535 * 256)).toEqual([65535, 1])
    expect(gridFor(65535 * 256 + 1)).toEqual([65535, 2])
  })

  test("a program past the 1-D limit folds the y group index into its thread index", () => {
    // Four elements per invocation (wgsl.ts's blocks): past 4 · 65535 · 256 elements the grid needs y.
    const threads = 4 * 65535 * 256 + 1000
    const program = programOf(({ x }) => x.mul(2), { x: [threads] })
    const wgsl = renderWgsl(program, program.kernels[0]!)
    expect(wgsl).toContain(`id.y * ${65535 * 256}u`)
    expect(wgsl).toContain(`if (block * 4 >= ${threads})`)
  })

  test("a 70k-element program spanning hundreds of workgroups writes every element", async () => {
    const n = 70_001
    const { gpu: g } = await expectBackendsAgree(gpu(), ({ x }) => x.mul(3).add(1), { x: [n] }, { x: randomData(n, 77) })
    expect(g.out!.every(Number.isFinite)).toBe(true)
  })
})
