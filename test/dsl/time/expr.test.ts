import { describe, expect, test, setDefaultTimeout } from "bun:test"
import {
  constant, evaluate, lerp, NonFiniteConstant, show, simplify, t, table, timeExprKinds, type TimeExpr,
} from "../../../dsl/time/index.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const caught = (f: () => unknown): unknown => {
  try { f() } catch (e) { return e }
  throw new Error("expected a throw")
}

describe("time expressions", () => {
  test("structurally equal expressions are the same object (hash-consed)", () => {
    const a = lerp(0.1, 20, t).mul(t.exp())
    const b = lerp(0.1, 20, t).mul(t.exp())
    expect(a).toBe(b)
    expect(a.id).toBe(b.id)
    expect(t.add(1)).not.toBe(t.add(2))
  })

  test("nodes are a discriminated union the compiler can switch on", () => {
    const e = constant(2).mul(t).add(constant(1).div(t.sqrt()))
    expect(e.kind).toBe("add")
    if (e.kind !== "add") throw new Error("unreachable")
    expect(e.terms.map((x) => x.kind)).toEqual(["mul", "mul"])
    const [, quotient] = e.terms
    if (quotient?.kind !== "mul") throw new Error("unreachable")
    expect(quotient.factors.map((x) => x.kind)).toEqual(["const", "recip"])
    expect(timeExprKinds).toContain("table")
  })

  test("evaluate follows float64 arithmetic for every kind", () => {
    const x = 0.37
    const cases: [TimeExpr, number][] = [
      [lerp(0.1, 20, t), 0.1 + 19.9 * x],
      [t.sub(1).neg(), 1 - x],
      [t.div(3), x / 3],
      [t.exp().log(), x],
      [t.sqrt().pow(3), Math.pow(Math.sqrt(x), 3)],
      [t.sin().add(t.cos()), Math.sin(x) + Math.cos(x)],
      [t.max(0.5).add(t.min(0.5)), 0.5 + x],
      [constant(2).pow(t), Math.pow(2, x)],
      [t.square(), x * x],
    ]
    for (const [e, want] of cases) expect(evaluate(e, x)).toBeCloseTo(want, 14)
  })

  test("a table interpolates linearly on its grid and clamps outside it", () => {
    const tab = table(0, 1, [0, 10, 40])
    expect(evaluate(tab, 0.25)).toBeCloseTo(5, 14)
    expect(evaluate(tab, 0.75)).toBeCloseTo(25, 14)
    expect(evaluate(tab, -3)).toBe(0)
    expect(evaluate(tab, 7)).toBe(40)
    if (tab.kind !== "table") throw new Error("unreachable")
    expect(tab.values).toBeInstanceOf(Float64Array)
    expect([tab.t0, tab.t1, tab.values.length]).toEqual([0, 1, 3])
  })

  test("a table can be indexed by an expression (a log-spaced grid reads at log t)", () => {
    const tab = table(Math.log(0.01), 0, [1, 2], t.log())
    expect(evaluate(tab, 0.1)).toBeCloseTo(1.5, 12)
  })

  test("show prints readable formulas", () => {
    expect(show(lerp(0.1, 20, t))).toBe("0.1 + 19.9·t")
    expect(show(t.sub(1))).toBe("t - 1")
    expect(show(constant(1).div(t.add(1)))).toBe("1/(t + 1)")
    expect(show(t.square().add(t.sqrt()))).toBe("t² + √t")
    expect(show(simplify(t.mul(-0.5).exp()))).toBe("exp(-0.5·t)")
    expect(show(simplify(lerp(0.1, 20, t).div(constant(1).sub(t.neg().exp()))))).toBe("(0.1 + 19.9·t)/(1 - exp(-t))")
    expect(String(t.pow(1.5))).toBe("t^1.5")
  })

  test("a non-finite constant is a typed error naming the expression being built", () => {
    const e = caught(() => constant(Number.NaN))
    expect(e).toBeInstanceOf(NonFiniteConstant)
    expect((e as NonFiniteConstant).message).toContain("constant(NaN)")
    const m = caught(() => lerp(0.1, 20, t).mul(Number.POSITIVE_INFINITY)) as NonFiniteConstant
    expect(m._tag).toBe("NonFiniteConstant")
    expect(m.message).toContain("0.1 + 19.9·t · Infinity")
    expect(() => table(0, 1, [0, Number.NaN])).toThrow(NonFiniteConstant)
  })
})
