import { describe, expect, test, setDefaultTimeout } from "bun:test"
import fc from "fast-check"
import { constant, evaluate, lerp, show, simplify, t, type TimeExpr } from "../../../dsl/time/index.ts"
import { randomExpression } from "./arbitraries.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const x = t.sin() // an opaque non-constant sub-expression

describe("simplify", () => {
  test("folds constants, however deeply they are nested", () => {
    expect(simplify(constant(2).mul(3).add(constant(4).log().exp()))).toBe(constant(10))
    expect(simplify(t.mul(2).mul(3).add(1).add(2))).toBe(simplify(t.mul(6).add(3)))
    expect(show(simplify(t.mul(2).mul(3).add(1).add(2)))).toBe("3 + 6·t")
  })

  test("drops identities: x·1, x + 0, x^1, x^0", () => {
    expect(simplify(x.mul(1))).toBe(x)
    expect(simplify(x.add(0))).toBe(x)
    expect(simplify(x.pow(1))).toBe(x)
    expect(simplify(x.pow(0))).toBe(constant(1))
    expect(simplify(x.mul(0))).toBe(constant(0))
  })

  test("cancels inverse functions: exp(log x) = x, log(exp x) = x, (√x)² = x", () => {
    expect(simplify(x.log().exp())).toBe(x)
    expect(simplify(x.exp().log())).toBe(x)
    expect(simplify(x.sqrt().square())).toBe(x)
    expect(simplify(x.div(x))).toBe(constant(1))
  })

  test("keeps √(x²) = |x| as is: the rewrite to x would be wrong for x < 0", () => {
    const e = simplify(x.square().sqrt())
    expect(e).not.toBe(x)
    expect(evaluate(e, -1)).toBeCloseTo(Math.abs(Math.sin(-1)), 14)
  })

  test("collects like terms and merges exponentials", () => {
    expect(show(simplify(x.add(x).add(x.mul(3))))).toBe("5·sin(t)")
    expect(simplify(x.sub(x))).toBe(constant(0))
    expect(simplify(t.exp().mul(t.neg().exp()))).toBe(constant(1))
    expect(show(simplify(t.exp().mul(t.exp()).mul(2)))).toBe("2·exp(2·t)")
  })

  test("writes polynomials in canonical order and expands products of them", () => {
    expect(show(simplify(lerp(0.1, 20, t).square()))).toBe("0.01 + 3.98·t + 396.01·t²")
    expect(show(simplify(lerp(0.1, 20, t).mul(-0.5)))).toBe("-0.05 - 9.95·t")
  })

  test("distributes a product over a sum when that makes it smaller (the VP variance)", () => {
    const B = t.mul(0.1).add(t.square().mul(9.95))
    const v = simplify(B.neg().exp().mul(B.exp().sub(1)))
    expect(show(v)).toBe("1 - exp(-0.1·t - 9.95·t²)")
  })

  test("is idempotent and preserves the value wherever the input is finite", () => {
    fc.assert(fc.property(randomExpression(3), fc.double({ min: 0.05, max: 0.95, noNaN: true }), (e: TimeExpr, at) => {
      const s = simplify(e)
      expect(simplify(s)).toBe(s)
      const [want, got] = [evaluate(e, at), evaluate(s, at)]
      if (!Number.isFinite(want)) return
      expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-9 * (1 + Math.abs(want)))
    }), { numRuns: 300 })
  })
})
