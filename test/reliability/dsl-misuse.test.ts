/**
 * Misusing the Tensor API and the SDE DSL fails with a typed error that names the problem — never a crash
 * (a TypeError, a RangeError, an index out of bounds), never a hang, never a silently wrong program.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test"
import fc from "fast-check"
import { ProgramError, ShapeError } from "../../src/ir/errors.ts"
import { concat, full, input, matmul, type Tensor } from "../../src/ir/tensor.ts"
import { InvalidOption } from "../../dsl/errors.ts"
import { subvp, ve, vp } from "../../dsl/library/index.ts"
import { importanceSampler, importanceTime, sampleTimes, uniformTime } from "../../dsl/importance.ts"
import { pluginReverse } from "../../dsl/reverse.ts"
import { linearSde } from "../../dsl/sde.ts"
import { solve } from "../../dsl/solve.ts"
import { eulerMaruyama } from "../../dsl/solvers.ts"
import { constant, ImproperDensity, InvalidHorizon, NonFiniteConstant, NonPositiveVariance, NotDifferentiable, NotIntegrable, t } from "../../dsl/time/index.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

/** Every error class misuse may produce. Anything else thrown is a crash. */
const typedErrors = [ShapeError, ProgramError, InvalidOption, NonFiniteConstant, NotIntegrable, NotDifferentiable, InvalidHorizon, NonPositiveVariance, ImproperDensity]

/** The error a (possibly async) misuse throws, or "no error", or "hang" after `ms`. */
const outcome = async (misuse: () => unknown, ms = 2000): Promise<unknown> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const hang = new Promise((resolve) => (timer = setTimeout(resolve, ms, "hang")))
  try {
    return await Promise.race([Promise.resolve().then(misuse).then(() => "no error"), hang])
  } catch (error) {
    return error
  } finally {
    clearTimeout(timer)
  }
}

const sde = vp()
/** A drift model that ignores x's values but keeps its shape (enough to build programs). */
const model = { score: (x: Tensor) => x.neg() }

describe("typed errors name the problem", () => {
  test("a shape mismatch names the op, both shapes and the user's line", () => {
    let error: unknown
    try {
      input("x", [2, 3]).mul(input("y", [4, 3]))
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ShapeError)
    const e = error as ShapeError
    expect(e.op).toBe("mul")
    expect(e.shapes).toEqual([[2, 3], [4, 3]])
    expect(e.message).toContain("[2, 3]")
    expect(e.message).toContain("[4, 3]")
    expect(e.site).toContain("dsl-misuse.test.ts")
  })

  // Frames printed without parentheses (module-level code, "at /path/file.ts:3:9") are now recognised.
  // What remains: an op that is the tail call of an arrow run from a promise job leaves no user frame at
  // all — JSC's proper tail calls drop it — so there is nothing to name. Kept as a known limitation.
  test.failing("…also when the op is the tail call of an arrow run as a promise job", async () => {
    const error = await outcome(() => input("x", [2, 3]).mul(input("y", [4, 3])))
    expect((error as ShapeError).site).toContain("dsl-misuse.test.ts")
  })

  test.each([1.01, -0.5, Number.NaN, Number.POSITIVE_INFINITY])("λ = %p ∉ [0, 1] → InvalidOption 'lambda'", async (lambda) => {
    const error = await outcome(() => pluginReverse(sde, model, { lambda }))
    expect(error).toBeInstanceOf(InvalidOption)
    expect((error as InvalidOption).option).toBe("lambda")
    expect((error as InvalidOption).message).toContain("[0, 1]")
  })

  test.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])("the constant %p → a typed error naming it", async (value) => {
    const inTensor = await outcome(() => input("x", [3]).add(value))
    expect(inTensor).toBeInstanceOf(ProgramError)
    expect((inTensor as ProgramError).message).toContain(String(value))
    const inTime = await outcome(() => t.mul(value))
    expect(inTime).toBeInstanceOf(NonFiniteConstant)
    expect((inTime as NonFiniteConstant).message).toContain(String(value))
  })

  test.each([
    [1, 1],
    [0.5, 0.7],
    [1e-3, 1e-3],
  ])("T = %p ≤ ε = %p → InvalidOption 'eps' when sampling times, InvalidHorizon from the importance sampler", async (T, eps) => {
    const short = vp({ T })
    const sampled = await outcome(() => sampleTimes(short, uniformTime(eps), 4))
    expect(sampled).toBeInstanceOf(InvalidOption)
    expect((sampled as InvalidOption).option).toBe("eps")
    expect(await outcome(() => importanceSampler(short, eps))).toBeInstanceOf(InvalidHorizon)
  })

  test("g(t) = 1 + sin t has no closed-form marginal: with quadrature off → NotIntegrable naming the integrand", async () => {
    const error = await outcome(() => linearSde({ f: -1, g: constant(1).add(t.sin()), quadrature: false }))
    expect(error).toBeInstanceOf(NotIntegrable)
    expect((error as NotIntegrable).message).toContain("sin")
  })
})

// ---- 1000 random invalid programs --------------------------------------------------------------------

const dims = fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 })
const binaryOps = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "lt", "ge", "eq"] as const
const reductions = ["sum", "max", "min", "mean", "logsumexp", "variance"] as const
const badNumber = fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY)

/** A named misuse: `build` must throw one of the typed errors. */
interface Misuse {
  readonly what: string
  readonly build: () => unknown
}

const misuses: fc.Arbitrary<Misuse> = fc.oneof(
  // Broadcasting: one axis where both sizes are ≥ 2 and differ.
  fc.tuple(dims, fc.nat(), fc.nat({ max: 3 }), fc.constantFrom(...binaryOps)).map(([shape, at, extra, op]) => {
    const axis = at % shape.length
    const a = shape.map((d, i) => (i === axis ? d + 1 : d))
    const b = a.map((d, i) => (i === axis ? d + 1 + extra : d))
    return { what: `${op} of [${a}] and [${b}]`, build: () => input("a", a)[op](input("b", b)) }
  }),
  // A reduction axis outside [-rank, rank).
  fc.tuple(dims, fc.integer({ min: 0, max: 3 }), fc.boolean(), fc.constantFrom(...reductions)).map(([shape, past, negative, op]) => {
    const axis = negative ? -shape.length - 1 - past : shape.length + past
    return { what: `${op} over axis ${axis} of [${shape}]`, build: () => input("x", shape)[op](axis) }
  }),
  // softmax / flip on an axis out of range.
  fc.tuple(dims, fc.integer({ min: 0, max: 3 }), fc.boolean()).map(([shape, past, soft]) => {
    const axis = shape.length + past
    return { what: `${soft ? "softmax" : "flip"} axis ${axis} of [${shape}]`, build: () => (soft ? input("x", shape).softmax(axis) : input("x", shape).flip(axis)) }
  }),
  // reshape to a different number of elements.
  fc.tuple(dims, dims).filter(([a, b]) => a.reduce((p, d) => p * d, 1) !== b.reduce((p, d) => p * d, 1)).map(([a, b]) => ({ what: `reshape [${a}] → [${b}]`, build: () => input("x", a).reshape(b) })),
  // permute with a repeated axis or the wrong length.
  fc.tuple(dims, fc.boolean()).map(([shape, repeat]) => {
    const perm = repeat ? shape.map(() => 0).concat(shape.length === 1 ? [0] : []) : [...shape.keys(), shape.length]
    return { what: `permute [${shape}] by [${perm}]`, build: () => input("x", shape).permute(perm) }
  }),
  // matmul with mismatched inner dimensions.
  fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 5 })).map(([m, k, off, n]) => ({
    what: `matmul [${m}, ${k}] × [${k + off}, ${n}]`,
    build: () => matmul(input("a", [m, k]), input("b", [k + off, n])),
  })),
  // concat of parts that differ off the joining axis.
  fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 })).map(([r, c, off]) => ({
    what: `concat [${r}, ${c}] with [${r}, ${c + off}] on axis 0`,
    build: () => concat([input("a", [r, c]), input("b", [r, c + off])], 0),
  })),
  // slice with a zero step; pad with the wrong number of widths.
  dims.map((shape) => ({ what: `slice [${shape}] with step 0`, build: () => input("x", shape).slice(shape.map(() => 0), undefined, shape.map(() => 0)) })),
  dims.map((shape) => ({ what: `pad [${shape}] with ${shape.length + 1} widths`, build: () => input("x", shape).pad([...shape.map(() => [1, 1] as const), [1, 1] as const]) })),
  // non-finite constants in tensors and in time expressions.
  fc.tuple(dims, badNumber, fc.nat({ max: 2 })).map(([shape, value, where]) => ({
    what: `constant ${value} (${["add", "full", "time"][where]})`,
    build: () => (where === 0 ? input("x", shape).add(value) : where === 1 ? full(shape, value) : t.add(value)),
  })),
  // DSL options outside their domains.
  fc.oneof(fc.double({ min: 1.0001, max: 1e6, noNaN: true }), fc.double({ min: -1e6, max: -1e-6, noNaN: true }), badNumber).map((lambda) => ({
    what: `λ = ${lambda}`,
    build: () => pluginReverse(sde, model, { lambda }),
  })),
  fc.tuple(fc.oneof(fc.double({ min: -10, max: 0, noNaN: true }), badNumber), fc.constantFrom(vp, subvp, ve)).map(([T, library]) => ({ what: `${library.name}({ T: ${T} })`, build: () => library({ T }) })),
  fc.tuple(fc.double({ min: 0.05, max: 2, noNaN: true }), fc.double({ min: 1, max: 3, noNaN: true }), fc.boolean()).map(([T, ratio, importance]) => ({
    what: `ε = ${T * ratio} ≥ T = ${T} (${importance ? "importance" : "uniform"})`,
    build: () => sampleTimes(vp({ T }), importance ? importanceTime(T * ratio) : uniformTime(T * ratio), 4),
  })),
  fc.oneof(fc.integer({ min: -5, max: 0 }), fc.double({ min: 0.1, max: 9.9, noNaN: true }).filter((s) => !Number.isInteger(s)), badNumber).map((steps) => ({
    what: `solve with steps = ${steps}`,
    build: () => solve(pluginReverse(sde, model), eulerMaruyama(), { backend: "cpu", shape: [2, 2], steps }),
  })),
)

describe("1000 random invalid programs", () => {
  test("each fails with a typed error: 0 crashes, 0 hangs, 0 accepted", async () => {
    const untyped: string[] = []
    const kinds = new Map<string, number>()
    let runs = 0
    await fc.assert(
      fc.asyncProperty(misuses, async ({ what, build }) => {
        runs++
        const error = await outcome(build)
        if (typedErrors.some((kind) => error instanceof kind)) {
          const tag = (error as { _tag: string })._tag
          kinds.set(tag, (kinds.get(tag) ?? 0) + 1)
        } else untyped.push(`${what}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`)
      }),
      { numRuns: 1000, seed: 8 },
    )
    expect(untyped).toEqual([])
    expect(runs).toBe(1000)
    console.log(`1000 invalid programs → ${[...kinds].map(([k, n]) => `${n} ${k}`).join(", ")}`)
  }, 60_000)
})
