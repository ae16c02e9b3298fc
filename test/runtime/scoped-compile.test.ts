/**
 * `compileScoped`: an executable owned by an Effect Scope. Inside the scope it runs and reads like any
 * other; when the scope closes — normally or by a failure — its buffers go back to the device's pool and
 * running it is the "destroyed" ProgramError. Compile failures are typed errors, not defects.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { Cause, Effect, Exit } from "effect"
import { compileScoped } from "../../src/effect/compile-scoped.ts"
import { InvalidOption, ProgramError, ShapeError } from "../../src/ir/errors.ts"
import type { Tensor } from "../../src/ir/tensor.ts"
import type { Executable } from "../../src/runtime/executable.ts"
import { useGpu } from "../support/backends.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const gpu = useGpu()

/** An elementwise program (no contraction, so no autotuning): 2x + 1 over 1024 values. */
const affine = ({ x }: { x: Tensor }) => x.mul(2).add(1)
const specs = { x: [1024] }
const xs = Float32Array.from({ length: 1024 }, (_, i) => i)

/** The pool's counters: `bytes` held on the device, `allocations` ever made. */
const counters = () => ({ bytes: gpu().pool.bytes, allocations: gpu().pool.allocations })

describe("compileScoped", () => {
  test("runs and reads inside Effect.scoped; once the scope closes its buffers are back in the pool and a run is the destroyed ProgramError", async () => {
    let kept: Executable | undefined
    const out = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const exe = yield* compileScoped(affine, specs, { backend: gpu() })
          kept = exe
          exe.run({ x: xs })
          return yield* Effect.promise(() => exe.read("out"))
        }),
      ),
    )
    expect(Array.from(out.subarray(0, 4))).toEqual([1, 3, 5, 7])
    expect(out[1023]).toBe(2047)

    // Released, not leaked: the same program compiled again takes those buffers and allocates nothing.
    const after = counters()
    await Effect.runPromise(Effect.scoped(compileScoped(affine, specs, { backend: gpu() })))
    expect(counters()).toEqual(after)

    // The control: while one executable holds its buffers, a second one must allocate its own.
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          yield* compileScoped(affine, specs, { backend: gpu() })
          const held = counters()
          yield* compileScoped(affine, specs, { backend: gpu() })
          expect(gpu().pool.allocations).toBeGreaterThan(held.allocations)
          expect(gpu().pool.bytes).toBeGreaterThan(held.bytes)
        }),
      ),
    )

    let thrown: unknown
    try {
      kept!.run({ x: xs })
    } catch (e) {
      thrown = e
    }
    expect(thrown).toBeInstanceOf(ProgramError)
    expect((thrown as ProgramError).message).toContain("the executable was destroyed")
  })

  test("a scope closed by a failure destroys the executable too", async () => {
    let kept: Executable | undefined
    const exit = await Effect.runPromiseExit(
      Effect.scoped(
        Effect.gen(function* () {
          kept = yield* compileScoped(affine, specs, { backend: gpu() })
          return yield* Effect.fail("later step failed" as const)
        }),
      ),
    )
    expect(Exit.isFailure(exit)).toBe(true)
    expect(() => kept!.run({ x: xs })).toThrow("the executable was destroyed")
  })

  test("a shape mismatch fails the Effect with the typed ShapeError (not a defect) and holds nothing", async () => {
    const before = counters()
    const exit = await Effect.runPromiseExit(
      Effect.scoped(compileScoped(({ a, b }) => a.add(b), { a: [2], b: [3] }, { backend: gpu() })),
    )
    expect(Exit.isFailure(exit)).toBe(true)
    if (!Exit.isFailure(exit)) return
    expect(Cause.hasDies(exit.cause)).toBe(false)
    const error = Cause.findErrorOption(exit.cause)
    expect(error._tag).toBe("Some")
    if (error._tag !== "Some") return
    expect(error.value).toBeInstanceOf(ShapeError)
    expect(error.value._tag).toBe("ShapeError")
    expect(error.value.message).toContain("[2]")
    expect(counters()).toEqual(before)
  })

  test("an invalid option is typed (InvalidOption); anything else compile throws is a defect", async () => {
    const bad = await Effect.runPromise(
      Effect.flip(Effect.scoped(compileScoped(affine, specs, { backend: "gpu" as unknown as "cpu" }))),
    )
    expect(bad).toBeInstanceOf(InvalidOption)

    const exit = await Effect.runPromiseExit(
      Effect.scoped(
        compileScoped(
          () => {
            throw new Error("not a compile error")
          },
          {},
          { backend: gpu() },
        ),
      ),
    )
    expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
    expect(Exit.isFailure(exit) && Cause.hasFails(exit.cause)).toBe(false)
  })
})
