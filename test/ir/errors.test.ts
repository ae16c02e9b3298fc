/**
 * Building a program fails early and precisely: a `ShapeError` names the op, every operand's shape
 * and the user's line; an unrepresentable value is a `ProgramError`.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { grad, vjp } from "../../src/ir/autodiff.ts"
import { ProgramError, ShapeError } from "../../src/ir/errors.ts"
import { concat, constant, conv2d, conv2dGradInput, conv2dGradWeight, full, input, matmul, where, type Tensor } from "../../src/ir/tensor.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

/** The error `build` throws; fails the test if it throws none. */
const errorOf = (build: () => unknown): unknown => {
  try {
    build()
  } catch (error) {
    return error
  }
  throw new Error("expected the graph builder to throw")
}

const expectShapeError = (build: () => unknown, op: string, shapes: string[]): ShapeError => {
  const error = errorOf(build)
  expect(error).toBeInstanceOf(ShapeError)
  const e = error as ShapeError
  expect(e.op).toBe(op)
  expect(e.message.startsWith(`${op}:`)).toBe(true)
  for (const s of shapes) expect(e.message).toContain(s)
  return e
}

const t = (shape: number[], name = "x"): Tensor => input(name, shape)

describe("ShapeError names the op, both shapes and the call site", () => {
  test("broadcasting add of [2, 3] and [4, 3]", () => {
    const e = expectShapeError(() => t([2, 3]).add(t([4, 3], "y")), "add", ["[2, 3]", "[4, 3]"])
    expect(e.shapes).toEqual([[2, 3], [4, 3]])
    // The site is the user's line (this file), not a frame inside the library.
    expect(e.site).toContain("errors.test.ts")
    expect(e.message).toContain("errors.test.ts")
  })

  test("where with a condition that does not broadcast", () => {
    expectShapeError(() => where(t([3]).gt(0), t([2, 4], "a"), 0), "where", ["[3]", "[2, 4]"])
  })

  test("matmul with mismatched inner dimensions", () => {
    const e = expectShapeError(() => matmul(t([2, 3]), t([4, 5], "w")), "matmul", ["[2, 3]", "[4, 5]"])
    expect(e.message).toContain("3 vs 4")
  })

  test("matmul with batch dimensions that do not broadcast", () => {
    expectShapeError(() => matmul(t([2, 3, 4]), t([3, 4, 5], "w")), "matmul (batch dimensions)", ["[2]", "[3]"])
  })

  test("conv2d with mismatched channels", () => {
    const e = expectShapeError(() => conv2d(t([1, 3, 5, 5]), t([2, 4, 3, 3], "w")), "conv2d", ["[1, 3, 5, 5]", "[2, 4, 3, 3]"])
    expect(e.message).toContain("3 vs 4")
  })

  test("conv2d with a kernel larger than the padded input", () => {
    expectShapeError(() => conv2d(t([1, 1, 2, 2]), t([1, 1, 5, 5], "w"), { padding: 1 }), "conv2d", ["[1, 1, 2, 2]", "[1, 1, 5, 5]"])
  })

  test("conv2d's gradient kernels with a g that is not conv2d's output shape", () => {
    // x [1, 2, 5, 4] and w [3, 2, 3, 2] at stride 2, padding 1 give g [1, 3, 3, 3].
    expectShapeError(() => conv2dGradInput(t([1, 3, 3, 2]), t([3, 2, 3, 2], "w"), [1, 2, 5, 4], 2, 1), "conv2dGradInput", ["[1, 3, 3, 2]", "[1, 3, 3, 3]"])
    expectShapeError(() => conv2dGradWeight(t([1, 2, 5, 4]), t([1, 3, 3, 2], "g"), [3, 2, 3, 2], 2, 1), "conv2dGradWeight", ["[1, 3, 3, 2]", "[1, 3, 3, 3]"])
  })

  test("reshape to a different number of elements", () => {
    expectShapeError(() => t([2, 3]).reshape([4]), "reshape", ["[2, 3]", "[4]"])
    expectShapeError(() => t([2, 3]).reshape([-1, -1]), "reshape", ["[2, 3]"])
  })

  test("permute with a repeated or missing axis", () => {
    expectShapeError(() => t([2, 3, 4]).permute([0, 0, 1]), "permute", ["[2, 3, 4]", "[0, 0, 1]"])
    expectShapeError(() => t([2, 3, 4]).permute([1, 0]), "permute", ["[2, 3, 4]", "[1, 0]"])
  })

  test("broadcastTo a shape the tensor cannot broadcast to", () => {
    expectShapeError(() => t([3, 2]).broadcastTo([3, 4]), "broadcastTo", ["[3, 2]", "[3, 4]"])
  })

  test("concat of parts that differ off the joining axis", () => {
    expectShapeError(() => concat([t([2, 3]), t([2, 4], "y")], 0), "concat", ["[2, 3]", "[2, 4]"])
  })

  test("slice with a zero step and pad with a wrong number of widths", () => {
    expectShapeError(() => t([4]).slice([0], [4], [0]), "slice", ["[4]"])
    expectShapeError(() => t([4, 2]).pad([[1, 1]]), "pad", ["[4, 2]"])
  })
})

describe("ProgramError for values a program cannot represent", () => {
  for (const value of [NaN, Infinity, -Infinity])
    test(`the constant ${value}`, () => {
      for (const build of [() => constant(value), () => t([2]).add(value), () => full([2], value)]) {
        const error = errorOf(build)
        expect(error).toBeInstanceOf(ProgramError)
        expect((error as ProgramError).message).toContain(`non-finite constant ${value}`)
      }
    })

  test("an axis out of range or repeated", () => {
    const out = errorOf(() => t([2, 3]).sum(2)) as ProgramError
    expect(out).toBeInstanceOf(ProgramError)
    expect(out.message).toContain("axis 2 is out of range for rank 2")
    expect(errorOf(() => t([2, 3]).max([1, -1]))).toBeInstanceOf(ProgramError)
  })

  test("a cotangent whose shape differs from the output's", () => {
    const x = t([3])
    const error = errorOf(() => vjp(x.exp(), [x], t([4], "c"))) as ProgramError
    expect(error).toBeInstanceOf(ProgramError)
    expect(error.message).toContain("[4]")
    expect(error.message).toContain("[3]")
  })

  test("grad of a non-scalar output (as in JAX: no silent sum), naming its shape", () => {
    const x = t([3])
    const error = errorOf(() => grad(x.exp(), [x])) as ProgramError
    expect(error).toBeInstanceOf(ProgramError)
    expect(error.message).toContain("scalar output, got shape [3]")
    expect(grad(x.exp().sum(), [x])[0]!.shape).toEqual([3])
    expect(grad(x.exp().sum().reshape([1, 1]), [x])[0]!.shape).toEqual([3])
  })
})
