import { afterAll, describe, expect, test, setDefaultTimeout } from "bun:test"
import { Effect } from "effect"
import fc from "fast-check"
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  checkAgainst, decodeSafetensorsSync, encodeSafetensors, readSafetensors, SafetensorsError, writeSafetensors,
  type Dtype, type Safetensors, type TensorRecord,
} from "../../src/platform/files/safetensors.ts"
import { pytorchLayout, splitFile } from "./fixtures/safetensors-files.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const bytesOf = (view: ArrayBufferView): Uint8Array => new Uint8Array(view.buffer, view.byteOffset, view.byteLength)

/** Same dtype, shape, array type and bits — NaN payloads included, which `toEqual` on values would not see. */
const expectSameTensor = (got: TensorRecord | undefined, want: TensorRecord): void => {
  expect(got?.dtype).toBe(want.dtype)
  expect(got?.shape).toEqual([...want.shape])
  expect(got?.data.constructor).toBe(want.data.constructor)
  expect(bytesOf(got!.data)).toEqual(bytesOf(want.data))
}

const error = (effect: Effect.Effect<unknown, SafetensorsError>): SafetensorsError => Effect.runSync(Effect.flip(effect))

const shapeArb = fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 3 })
const count = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1)

const f32WithNaNPayloads = (n: number) =>
  fc
    .array(
      fc.oneof(
        fc.integer({ min: 0, max: 0xffffffff }),
        // Quiet and signalling NaNs of either sign with arbitrary payloads.
        fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 0x7fffff })).map(([neg, payload]) => ((neg ? 0x80000000 : 0) | 0x7f800000 | payload) >>> 0),
      ),
      { minLength: n, maxLength: n },
    )
    .map((bits) => new Float32Array(Uint32Array.from(bits).buffer))

const randomBytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map((bytes) => bytes.slice().buffer)

/** A random tensor of `dtype` whose bits are arbitrary (so F64/F32 include NaN, Inf and subnormals). */
const tensorArb = (dtype: Exclude<Dtype, "F16" | "BF16">): fc.Arbitrary<TensorRecord> =>
  shapeArb.chain((shape): fc.Arbitrary<TensorRecord> => {
    const n = count(shape)
    switch (dtype) {
      case "F32": return f32WithNaNPayloads(n).map((data) => ({ dtype, shape, data }))
      case "F64": return randomBytes(8 * n).map((b) => ({ dtype, shape, data: new Float64Array(b) }))
      case "I64": return randomBytes(8 * n).map((b) => ({ dtype, shape, data: new BigInt64Array(b) }))
      case "I32": return randomBytes(4 * n).map((b) => ({ dtype, shape, data: new Int32Array(b) }))
      case "U32": return randomBytes(4 * n).map((b) => ({ dtype, shape, data: new Uint32Array(b) }))
      case "I16": return randomBytes(2 * n).map((b) => ({ dtype, shape, data: new Int16Array(b) }))
      case "I8": return randomBytes(n).map((b) => ({ dtype, shape, data: new Int8Array(b) }))
      case "U8": return randomBytes(n).map((b) => ({ dtype, shape, data: new Uint8Array(b) }))
      case "BOOL": return fc.array(fc.boolean(), { minLength: n, maxLength: n }).map((v) => ({ dtype, shape, data: Uint8Array.from(v, Number) }))
    }
  })

const exactDtypes = ["F64", "F32", "I64", "I32", "I16", "I8", "U8", "U32", "BOOL"] as const

describe("save → load round trip", () => {
  test.each(exactDtypes)("%s tensors of random shape and bits come back bit-exact", (dtype) => {
    fc.assert(
      fc.property(tensorArb(dtype), (tensor) => {
        const file = decodeSafetensorsSync(encodeSafetensors({ "net.weight": tensor }))
        expectSameTensor(file.tensors["net.weight"], tensor)
      }),
      { numRuns: 40 },
    )
  })

  test.each(["F16", "BF16"] as const)("%s: all 65536 bit patterns, NaN payloads included, load and save back byte-identical", (dtype) => {
    const everyPattern = bytesOf(Uint16Array.from({ length: 65536 }, (_, i) => i))
    const original = pytorchLayout([{ name: "h", dtype, shape: [256, 256], bytes: everyPattern }])
    expect(encodeSafetensors(decodeSafetensorsSync(original).tensors)).toEqual(original)
  })

  test("many tensors and metadata round-trip, and encoding ignores insertion order", () => {
    const tensorsArb = fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s !== "__metadata__"), fc.constantFrom(...exactDtypes).chain(tensorArb), { maxKeys: 5 })
    fc.assert(
      fc.property(tensorsArb, fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }), (tensors, metadata) => {
        const bytes = encodeSafetensors(tensors, metadata)
        const file = decodeSafetensorsSync(bytes)
        expect(Object.keys(file.tensors).sort()).toEqual(Object.keys(tensors).sort())
        for (const [name, tensor] of Object.entries(tensors)) expectSameTensor(file.tensors[name], tensor)
        expect({ ...file.metadata }).toEqual(metadata)
        const reversed = Object.fromEntries(Object.entries(tensors).reverse())
        expect(encodeSafetensors(reversed, metadata)).toEqual(bytes)
      }),
      { numRuns: 60 },
    )
  })
})

describe("half-precision conversion", () => {
  /** binary16 value from its fields, by the IEEE formula rather than by bit shuffling. */
  const halfValue = (bits: number): number => {
    const sign = bits & 0x8000 ? -1 : 1
    const exponent = (bits >> 10) & 0x1f
    const mantissa = bits & 0x3ff
    if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN
    return exponent === 0 ? sign * mantissa * 2 ** -24 : sign * 2 ** (exponent - 15) * (1 + mantissa / 1024)
  }

  test("every one of the 65536 F16 bit patterns decodes to its IEEE value", () => {
    const bits = Uint16Array.from({ length: 65536 }, (_, i) => i)
    const decoded = decodeSafetensorsSync(pytorchLayout([{ name: "all", dtype: "F16", shape: [65536], bytes: bytesOf(bits) }]))
    const values = decoded.tensors["all"]!.data as Float32Array
    for (let i = 0; i < 65536; i++) expect(Object.is(values[i], halfValue(i)) || (Number.isNaN(values[i]) && Number.isNaN(halfValue(i)))).toBe(true)
  })

  test("F32 → F16 rounds to nearest even exactly like Math.f16round, overflow to ±Inf", () => {
    fc.assert(
      fc.property(fc.array(fc.float({ noNaN: true }), { minLength: 1, maxLength: 64 }), (values) => {
        const data = Float32Array.from(values)
        const back = decodeSafetensorsSync(encodeSafetensors({ x: { dtype: "F16", shape: [data.length], data } })).tensors["x"]!.data
        for (let i = 0; i < data.length; i++) expect(back[i]).toBe(Math.f16round(data[i]!))
      }),
      { numRuns: 200 },
    )
  })

  test("F32 → BF16 picks the nearer neighbour, ties to even, and f32 max overflows to Inf", () => {
    const roundTrip = (x: number) => decodeSafetensorsSync(encodeSafetensors({ x: { dtype: "BF16", shape: [1], data: Float32Array.of(x) } })).tensors["x"]!.data[0]
    expect(roundTrip(1 + 2 ** -8)).toBe(1) // halfway, 1.0 has the even mantissa
    expect(roundTrip(1 + 3 * 2 ** -8)).toBe(1 + 2 ** -6) // halfway, rounds up to even
    expect(roundTrip(1 + 2 ** -8 + 2 ** -20)).toBe(1 + 2 ** -7) // just past halfway
    expect(roundTrip(3.4028234663852886e38)).toBe(Infinity)
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true, min: -(2 ** 127), max: 2 ** 127 }), (x) => {
        const bits = new Uint32Array(Float32Array.of(x).buffer)[0]!
        const [below, above] = new Float32Array(Uint32Array.of(bits & 0xffff0000, (bits & 0xffff0000) + 0x10000).buffer)
        const got = roundTrip(x) as number
        const fx = Math.fround(x)
        expect(Math.abs(got - fx)).toBeLessThanOrEqual(Math.min(Math.abs(fx - below!), Math.abs(above! - fx)))
      }),
      { numRuns: 300 },
    )
  })
})

describe("file layout", () => {
  const fixture = new Uint8Array(readFileSync(join(import.meta.dir, "fixtures/pytorch-like.safetensors")))

  test("a file laid out like safetensors.torch.save_file loads with its names, shapes, values and metadata", () => {
    const file = decodeSafetensorsSync(fixture)
    expect(file.metadata).toEqual({ format: "pt" })
    expect(file.tensors["begin_conv.bias"]).toEqual({ dtype: "F32", shape: [4], data: Float32Array.of(0.5, -1.5, 2, -0.125) })
    const weight = file.tensors["temb_net.main.0.weight"]!
    expect(weight.shape).toEqual([4, 3])
    expect([...weight.data]).toEqual(Array.from({ length: 12 }, (_, i) => i * 0.25 - 1))
  })

  test("re-encoding the PyTorch-layout fixture reproduces it byte for byte", () => {
    const file = decodeSafetensorsSync(fixture)
    expect(encodeSafetensors(file.tensors, file.metadata)).toEqual(fixture)
  })

  test("header: names sorted, __metadata__ first, padded with spaces so the data starts 8-byte aligned", () => {
    const bytes = encodeSafetensors({ "b.w": { dtype: "I8", shape: [3], data: Int8Array.of(1, 2, 3) }, "10": { dtype: "U8", shape: [1], data: Uint8Array.of(9) } }, { epoch: "3" })
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true))
    expect(headerLength % 8).toBe(0)
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))
    expect(text).toMatch(/^\{"__metadata__":\{"epoch":"3"\},"10":\{.*\},"b\.w":\{.*\}\} *$/)
    expect(splitFile(bytes).header["b.w"]).toEqual({ dtype: "I8", shape: [3], data_offsets: [1, 4] })
    expect([...bytes.subarray(8 + headerLength)]).toEqual([9, 1, 2, 3])
  })

  test("tensors named __proto__ or constructor are ordinary names", () => {
    const tensors = Object.fromEntries([["__proto__", { dtype: "U8", shape: [1], data: Uint8Array.of(7) }], ["constructor", { dtype: "U8", shape: [0], data: new Uint8Array(0) }]]) as Record<string, TensorRecord>
    const file = decodeSafetensorsSync(encodeSafetensors(tensors))
    expect(Object.keys(file.tensors).sort()).toEqual(["__proto__", "constructor"])
    expect([...file.tensors["__proto__"]!.data]).toEqual([7])
  })
})

describe("encoder rejects invalid input with a typed error", () => {
  const encodeError = (run: () => unknown): SafetensorsError => {
    try {
      run()
    } catch (e) {
      if (e instanceof SafetensorsError) return e
      throw e
    }
    throw new Error("expected a SafetensorsError")
  }

  test("non-string metadata values", () => {
    const e = encodeError(() => encodeSafetensors({}, { step: 3 as unknown as string }))
    expect([e.reason, e.message]).toEqual(["metadata", expect.stringContaining("step")])
  })

  test("data whose length disagrees with the shape, naming the tensor", () => {
    const e = encodeError(() => encodeSafetensors({ w: { dtype: "F32", shape: [2, 3], data: new Float32Array(5) } }))
    expect([e.reason, e.tensor, e.message]).toEqual(["shape", "w", expect.stringContaining("needs 6 elements, data has 5")])
  })

  test("an array type that does not match the dtype", () => {
    const e = encodeError(() => encodeSafetensors({ w: { dtype: "I64", shape: [1], data: new Int32Array(1) } as unknown as TensorRecord }))
    expect([e.reason, e.tensor, e.message]).toEqual(["dtype", "w", expect.stringContaining("BigInt64Array")])
  })

  test("a tensor named __metadata__", () => {
    expect(encodeError(() => encodeSafetensors({ __metadata__: { dtype: "U8", shape: [0], data: new Uint8Array(0) } })).reason).toBe("name")
  })
})

describe("checkAgainst a model's expected tensors", () => {
  const file: Safetensors = {
    metadata: {},
    tensors: {
      "score.w": { dtype: "F32", shape: [2, 3], data: Float32Array.of(0, 1, 2, 3, NaN, 5) },
      "score.b": { dtype: "F16", shape: [2], data: Float32Array.of(1, Infinity) },
      step: { dtype: "I64", shape: [], data: BigInt64Array.of(7n) },
    },
  }
  const expected = { "score.w": { dtype: "F32", shape: [2, 3] }, "score.b": { dtype: "F16", shape: [2] }, step: { dtype: "I64", shape: [] } } as const

  test("a matching file passes through unchanged", () => {
    expect(Effect.runSync(checkAgainst(file, expected))).toBe(file)
  })

  test("missing names are listed", () => {
    const e = error(checkAgainst(file, { ...expected, "score.gain": { dtype: "F32", shape: [1] } }))
    expect([e.reason, e.tensor, e.message]).toEqual(["missing", "score.gain", expect.stringContaining("score.gain")])
  })

  test("unexpected names fail unless allowExtra", () => {
    const { step: _, ...withoutStep } = expected
    expect(error(checkAgainst(file, withoutStep)).tensor).toBe("step")
    expect(Effect.runSync(checkAgainst(file, withoutStep, { allowExtra: true }))).toBe(file)
  })

  test("a shape mismatch names the tensor and both shapes", () => {
    const e = error(checkAgainst(file, { ...expected, "score.w": { dtype: "F32", shape: [3, 2] } }))
    expect([e.reason, e.tensor, e.message]).toEqual(["shape", "score.w", expect.stringMatching(/expected shape \[3, 2\], file has \[2, 3\]/)])
  })

  test("a dtype mismatch names the tensor and both dtypes", () => {
    const e = error(checkAgainst(file, { ...expected, "score.b": { dtype: "F32", shape: [2] } }))
    expect([e.reason, e.tensor, e.message]).toEqual(["dtype", "score.b", expect.stringMatching(/F32.*F16/)])
  })

  test("rejectNonFinite names the tensor and the first bad index", () => {
    const e = error(checkAgainst(file, expected, { rejectNonFinite: true }))
    expect([e.reason, e.tensor, e.message]).toEqual(["non-finite", "score.b", expect.stringContaining("Infinity at flat index 1 ([1])")])
    const finiteBias = { ...file, tensors: { ...file.tensors, "score.b": { dtype: "F16", shape: [2], data: Float32Array.of(1, 2) } } } as Safetensors
    expect(error(checkAgainst(finiteBias, expected, { rejectNonFinite: true })).message).toContain("NaN at flat index 4 ([1, 1])")
  })
})

describe("files", () => {
  const dir = mkdtempSync(join(tmpdir(), "sdeflow-safetensors-"))
  const model = { w: { dtype: "F32", shape: [2], data: Float32Array.of(1, 2) } } as const

  test("write then read returns the same tensors and metadata", async () => {
    const path = join(dir, "ckpt", "model.safetensors")
    await Effect.runPromise(writeSafetensors(path, model, { step: "10" }))
    const file = await Effect.runPromise(readSafetensors(path))
    expectSameTensor(file.tensors["w"], model.w)
    expect(file.metadata).toEqual({ step: "10" })
  })

  test("a missing file is ReadFailed with ENOENT; a corrupt one is SafetensorsError naming the path", async () => {
    const missing = await Effect.runPromise(Effect.flip(readSafetensors(join(dir, "nope.safetensors"))))
    expect([missing._tag, missing._tag === "ReadFailed" && missing.code]).toEqual(["ReadFailed", "ENOENT"])
    const corrupt = join(dir, "corrupt.safetensors")
    writeFileSync(corrupt, new Uint8Array(5))
    const e = await Effect.runPromise(Effect.flip(readSafetensors(corrupt)))
    expect([e._tag, e.message]).toEqual(["SafetensorsError", expect.stringContaining(corrupt)])
  })

  test("writing where the parent is a file fails with WriteFailed and leaves that file intact", async () => {
    const blocker = join(dir, "blocker")
    writeFileSync(blocker, "previous")
    const e = await Effect.runPromise(Effect.flip(writeSafetensors(join(blocker, "model.safetensors"), model)))
    expect(e._tag).toBe("WriteFailed")
    expect(readFileSync(blocker, "utf8")).toBe("previous")
  })

  test("a write that fails midway (file-size limit hit) leaves the previous checkpoint intact and no temp file", () => {
    const target = join(dir, "overwrite", "model.safetensors")
    Effect.runSync(writeSafetensors(target, model))
    const before = readFileSync(target)
    // `ulimit -f 64` caps files at 64 KiB, so the 1 MiB checkpoint's write fails with EFBIG part-way through;
    // SIGXFSZ is ignored so that the failure surfaces as an error instead of killing the process.
    const child = Bun.spawnSync(["bash", "-c", 'ulimit -f 64; trap "" XFSZ; exec "$0" "$@"', process.execPath, join(import.meta.dir, "fixtures/write-big-checkpoint.ts"), target])
    expect(JSON.parse(child.stdout.toString())).toEqual({ _tag: "WriteFailed", code: "EFBIG" })
    expect(readFileSync(target)).toEqual(before)
    expect(readdirSync(join(dir, "overwrite"))).toEqual(["model.safetensors"])
  })

  test.skipIf(process.getuid?.() === 0)("writing into a read-only folder fails with WriteFailed and leaves the old file intact", async () => {
    const folder = join(dir, "readonly")
    await Effect.runPromise(writeSafetensors(join(folder, "m.safetensors"), model))
    chmodSync(folder, 0o555)
    try {
      const e = await Effect.runPromise(Effect.flip(writeSafetensors(join(folder, "m.safetensors"), { w: { ...model.w, data: Float32Array.of(3, 4) } })))
      expect(e._tag).toBe("WriteFailed")
      const file = await Effect.runPromise(readSafetensors(join(folder, "m.safetensors")))
      expect([...file.tensors["w"]!.data]).toEqual([1, 2])
    } finally {
      chmodSync(folder, 0o755)
    }
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
})
