import { describe, expect, test } from "bun:test"
import { hoistedLoader } from "../../src/compile/hoisted-loader.ts"
import { ScalarBuilder } from "../../src/compile/scalar.ts"
import { liftConstants } from "../../src/compile/lift-constants.ts"

describe("hoistedLoader", () => {
  // in0[(col / 7) · 9 + k % 5 + col·k]: col / 7 · 9 depends on the column alone, k % 5 on k alone.
  const b = new ScalarBuilder()
  const [k, col] = [b.external("k", "i32"), b.external("col", "i32")]
  const columnPart = b.mul(b.idiv(col, 7, 1000), b.int(9))
  const kPart = b.mod(k, 5, 1000)
  const index = b.add(b.add(columnPart, kPart), b.mul(col, k))
  const loader = hoistedLoader("load_b", ["k", "col"], b.load(0, index, "f32"), "f32")
  // Final text, its marked sizes (lift-constants.ts) as the literals a form used once keeps.
  const text = liftConstants([loader.functions.join("\n")])[0]!.wgsl

  test("the largest values of one index become parameters, each computed by a function of that index", () => {
    expect(text).toContain("fn load_b(k: i32, col: i32, col_h0: i32, k_v0: i32) -> f32 {")
    expect(text).toMatch(/fn load_b_h0\(col: i32\) -> i32 \{[^}]*col \/ 7[^}]*\* 9/)
    expect(text).toMatch(/fn load_b_k0\(k: i32\) -> i32 \{[^}]*k % 5/)
    // The loader itself no longer divides: both quotients arrive as parameters.
    expect(text.slice(0, text.indexOf("fn load_b_h0"))).not.toMatch(/ \/ 7| % 5/)
  })

  test("a caller prepares the column's values once and passes them with the k values' names", () => {
    expect(loader.prepare("col2")).toEqual(["let col2_load_b_h0 = load_b_h0(col2);"])
    expect(loader.kValues).toEqual(["load_b_k0"])
    expect(loader.call("k", "col2", ["k_value0"])).toBe("load_b(k, col2, col2_load_b_h0, k_value0)")
  })
})
