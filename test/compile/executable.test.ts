/**
 * The Executable contract: replay without compiling or allocating, scalar uniforms, device values
 * passed between executables, typed input errors, and validation errors surfaced by `check()`.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { compile } from "../../src/compile/compile.ts"
import type { Executable, InputValue } from "../../src/runtime/executable.ts"
import { Usage } from "../../src/runtime/flags.ts"
import type { Tensor } from "../../src/ir/tensor.ts"
import { randomData, useGpu } from "../support/backends.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const gpu = useGpu()

/** x·a + b with scalar (uniform) a and b. */
const axpb = ({ x, a, b }: { x: Tensor; a: Tensor; b: Tensor }) => x.mul(a).add(b)
const axpbSpecs = { x: [300], a: [], b: [] }
const x = randomData(300, 1)

/** The error `body` throws (synchronously or not); fails the test if it does not throw. */
const thrown = async (body: () => unknown): Promise<{ _tag?: string; message: string }> => {
  try {
    await body()
  } catch (error) {
    return error as { _tag?: string; message: string }
  }
  throw new Error("expected an error, but none was thrown")
}

describe("replay", () => {
  test("1000 runs compile no pipelines and allocate no buffers after the first", async () => {
    const g = gpu()
    const exe = await compile(axpb, axpbSpecs, { backend: g })
    try {
      exe.run({ x, a: 0, b: 0 })
      await exe.read("out")
      const before = { pipelines: g.pipelines.created, allocations: g.pool.allocations, bytes: g.pool.bytes }
      for (let k = 1; k <= 1000; k++) exe.run({ x, a: k, b: -k })
      const out = await exe.read("out")
      await exe.check()
      expect({ pipelines: g.pipelines.created, allocations: g.pool.allocations, bytes: g.pool.bytes }).toEqual(before)
      expect(out[7]).toBeCloseTo(x[7]! * 1000 - 1000, 2)
    } finally {
      exe.destroy()
    }
  }, 60_000)

  test("scalar uniforms change between runs without recompiling", async () => {
    const g = gpu()
    const exe = await compile(axpb, axpbSpecs, { backend: g })
    try {
      const created = g.pipelines.created
      for (const [a, b] of [[0.5, 1], [-2, 0.25], [0, 3]] as const) {
        exe.run({ x, a, b })
        const out = await exe.read("out")
        expect(out[5]).toBeCloseTo(x[5]! * a + b, 5)
      }
      expect(g.pipelines.created).toBe(created)
    } finally {
      exe.destroy()
    }
  })

  test("an identical program compiled again reuses the cached pipelines", async () => {
    const g = gpu()
    const first = await compile(axpb, axpbSpecs, { backend: g })
    const created = g.pipelines.created
    const second = await compile(axpb, axpbSpecs, { backend: g })
    expect(g.pipelines.created).toBe(created)
    first.destroy()
    second.destroy()
  })
})

describe("device values", () => {
  for (const backend of ["webgpu", "cpu"] as const)
    test(`${backend}: an output feeds another executable, and an executable its own next run`, async () => {
      const target = backend === "cpu" ? "cpu" : gpu()
      const double = await compile(({ x }) => x.mul(2), { x: [300] }, { backend: target })
      const shift = await compile(({ y }) => y.add(1), { y: [300] }, { backend: target })
      const halve = await compile(({ x }) => x.mul(0.5).add(1), { x: [300] }, { backend: target })
      try {
        double.run({ x })
        shift.run({ y: double.output("out") })
        const chained = await shift.read("out")
        expect(chained[9]).toBeCloseTo(x[9]! * 2 + 1, 5)
        // x ← x/2 + 1, ten times, never leaving the device.
        halve.run({ x })
        for (let k = 1; k < 10; k++) halve.run({ x: halve.output("out") })
        let host = x[3]!
        for (let k = 0; k < 10; k++) host = host * 0.5 + 1
        expect((await halve.read("out"))[3]).toBeCloseTo(host, 5)
        await Promise.all([double.check(), shift.check(), halve.check()])
      } finally {
        for (const exe of [double, shift, halve]) exe.destroy()
      }
    })
})

describe("typed reads", () => {
  /** An f32, an i32 and a bool output of one program. */
  const mixed = ({ x }: { x: Tensor }) => ({ y: x.mul(2), n: x.mul(10).cast("i32"), positive: x.gt(0) })
  const values = [-1.5, 0.25, 3]

  for (const backend of ["webgpu", "cpu"] as const)
    test(`${backend}: read(name, dtype) gives that dtype's array, with no cast`, async () => {
      const exe = await compile(mixed, { x: [3] }, { backend: backend === "cpu" ? "cpu" : gpu() })
      try {
        exe.run({ x: values })
        // The annotations are the point: these assignments compile only because the result is typed.
        const y: Float32Array = await exe.read("y", "f32")
        const n: Int32Array = await exe.read("n", "i32")
        const positive: Uint32Array = await exe.read("positive", "bool")
        expect(y).toBeInstanceOf(Float32Array)
        expect(Array.from(y)).toEqual([-3, 0.5, 6])
        expect(n).toBeInstanceOf(Int32Array)
        expect(Array.from(n)).toEqual([-15, 2, 30])
        expect(Array.from(positive)).toEqual([0, 1, 1])
      } finally {
        exe.destroy()
      }
    })

  test("a dtype other than the output's rejects with a ProgramError naming both", async () => {
    const exe = await compile(mixed, { x: [3] }, { backend: "cpu" })
    exe.run({ x: values })
    const error = await thrown(() => exe.read("n", "f32"))
    expect(error._tag).toBe("ProgramError")
    for (const m of ['"n"', "i32", "f32"]) expect(error.message).toContain(m)
    expect((await thrown(() => exe.read("nope", "f32")))._tag).toBe("ProgramError")
  })

  test("the f64 oracle: read(name) keeps float64, read(name, \"f32\") rounds to float32", async () => {
    const exe = await compile(({ x }) => x.div(3), { x: [1] }, { backend: "cpu", precision: "f64" })
    exe.run({ x: [1] })
    const wide = await exe.read("out")
    expect(wide).toBeInstanceOf(Float64Array)
    expect(wide[0]).toBe(1 / 3)
    const narrow = await exe.read("out", "f32")
    expect(narrow).toBeInstanceOf(Float32Array)
    expect(narrow[0]).toBe(Math.fround(1 / 3))
  })
})

describe("input errors name the input and both shapes", () => {
  const cases: [string, Record<string, InputValue>, string, string[]][] = [
    ["a missing input", { a: 1, b: 2 }, "ProgramError", ['"x"', "[300]"]],
    ["an unknown input", { x, a: 1, b: 2, z: 3 }, "ProgramError", ['"z"']],
    ["a tensor of the wrong size", { x: new Float32Array(299), a: 1, b: 2 }, "ShapeError", ['"x"', "[300]", "[299]"]],
    ["a number for a tensor", { x: 4, a: 1, b: 2 }, "ShapeError", ['"x"', "[300]"]],
    ["a tensor for a scalar", { x, a: [1], b: 2 }, "ProgramError", ['"a"', "scalar"]],
    ["a device value of the wrong size", { x: { shape: [3, 99], dtype: "f32", array: new Float32Array(297) }, a: 1, b: 2 }, "ShapeError", ['"x"', "[300]", "[3, 99]"]],
  ]
  for (const [what, inputs, tag, mentions] of cases)
    test(what, async () => {
      const exe = await compile(axpb, axpbSpecs, { backend: "cpu" })
      const error = await thrown(() => exe.run(inputs))
      expect(error._tag).toBe(tag)
      for (const m of mentions) expect(error.message).toContain(m)
    })

  test("an input declared in the specs but unused by the outputs is still accepted", async () => {
    const exe = await compile(({ x }) => x.mul(2), { x: [4], t: [] }, { backend: "cpu" })
    exe.run({ x: [1, 2, 3, 4], t: 0.5 })
    expect(Array.from(await exe.read("out"))).toEqual([2, 4, 6, 8])
  })
})

describe("validation", () => {
  const invalidRun = (exe: Executable) => {
    // A device value whose buffer is smaller than its claimed shape: the copy into the input slot is invalid.
    const tiny = gpu().device.createBuffer({ size: 16, usage: Usage.STORAGE | Usage.COPY_SRC })
    exe.run({ x: { shape: [300], dtype: "f32", buffer: tiny }, a: 1, b: 0 })
    return tiny
  }

  // check() awaits the run's pending error scope, so the error is there at once (not 100 ms later).
  test("check() rejects with a Validation error right after a run made invalid", async () => {
    const exe = await compile(axpb, axpbSpecs, { backend: gpu() })
    const tiny = invalidRun(exe)
    try {
      const error = await thrown(() => exe.check())
      expect(error._tag).toBe("Validation")
    } finally {
      exe.destroy()
      tiny.destroy()
    }
  })

  test("read() rejects too, and a valid executable's check() resolves", async () => {
    const [bad, good] = [await compile(axpb, axpbSpecs, { backend: gpu() }), await compile(axpb, axpbSpecs, { backend: gpu() })]
    const tiny = invalidRun(bad)
    good.run({ x, a: 1, b: 0 })
    try {
      expect((await thrown(() => bad.read("out")))._tag).toBe("Validation")
      await good.read("out")
      await good.check()
    } finally {
      for (const exe of [bad, good]) exe.destroy()
      tiny.destroy()
    }
  })

  test("a destroyed executable refuses to run", async () => {
    const exe = await compile(axpb, axpbSpecs, { backend: gpu() })
    exe.destroy()
    expect((await thrown(() => exe.run({ x, a: 1, b: 0 })))._tag).toBe("ProgramError")
  })
})
