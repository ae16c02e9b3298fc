import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { Effect, Exit } from "effect"
import fc from "fast-check"
import { decodeSafetensors, decodeSafetensorsSync, encodeSafetensors, SafetensorsError, type SafetensorsReason, type TensorRecord } from "../../src/platform/files/safetensors.ts"
import { fileWithHeader, splitFile } from "./fixtures/safetensors-files.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

/** The typed error a decode fails with; fails the test if it decodes or throws anything else. */
const rejection = (bytes: Uint8Array, strict = true): SafetensorsError => {
  try {
    decodeSafetensorsSync(bytes, { strict })
  } catch (error) {
    if (error instanceof SafetensorsError) return error
    throw error
  }
  throw new Error("expected the file to be rejected")
}

const entry = (dtype: unknown, shape: unknown, offsets: unknown) => ({ dtype, shape, data_offsets: offsets })
const headerFile = (header: unknown, dataBytes = 0) => fileWithHeader(JSON.stringify(header), new Uint8Array(dataBytes))
const lengthPrefix = (length: bigint, rest: number[] = []) => {
  const file = new Uint8Array(8 + rest.length)
  new DataView(file.buffer).setBigUint64(0, length, true)
  file.set(rest, 8)
  return file
}

describe("decoding rejects malformed files with a typed reason", () => {
  const cases: { what: string; bytes: Uint8Array; reason: SafetensorsReason; tensor?: string }[] = [
    { what: "a file shorter than 8 bytes", bytes: new Uint8Array(5), reason: "truncated" },
    { what: "a header length of 0", bytes: lengthPrefix(0n, [0x7b, 0x7d]), reason: "header-length" },
    { what: "a header length past the end of the file", bytes: lengthPrefix(3n, [0x7b, 0x7d]), reason: "header-length" },
    { what: "a header length over the 100 MB cap", bytes: lengthPrefix(2n ** 64n - 1n, [0x7b, 0x7d]), reason: "header-length" },
    { what: "a header that is not JSON", bytes: fileWithHeader("{\"w\": "), reason: "header-json" },
    { what: "a header that is invalid UTF-8", bytes: fileWithHeader(Uint8Array.of(0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d)), reason: "header-json" },
    { what: "a header that is a JSON array", bytes: fileWithHeader("[1, 2]"), reason: "header-json" },
    { what: "an entry that is not an object", bytes: headerFile({ w: 5 }), reason: "header-json", tensor: "w" },
    { what: "metadata that is not all strings", bytes: headerFile({ __metadata__: { epoch: 3 } }), reason: "metadata" },
    { what: "an unknown dtype", bytes: headerFile({ w: entry("F8", [1], [0, 1]) }, 1), reason: "dtype", tensor: "w" },
    { what: "a dtype inherited from Object.prototype", bytes: headerFile({ w: entry("constructor", [1], [0, 1]) }, 1), reason: "dtype", tensor: "w" },
    { what: "a negative dim", bytes: headerFile({ w: entry("U8", [-1], [0, 0]) }), reason: "shape", tensor: "w" },
    { what: "a fractional dim", bytes: headerFile({ w: entry("U8", [1.5], [0, 1]) }, 1), reason: "shape", tensor: "w" },
    { what: "a dim given as a string", bytes: headerFile({ w: entry("U8", ["2"], [0, 2]) }, 2), reason: "shape", tensor: "w" },
    { what: "dims whose product overflows, even with a later 0", bytes: headerFile({ w: entry("U8", [2 ** 40, 2 ** 40, 0], [0, 0]) }), reason: "shape", tensor: "w" },
    { what: "a shape that is not an array", bytes: headerFile({ w: entry("U8", 4, [0, 4]) }, 4), reason: "shape", tensor: "w" },
    { what: "data_offsets with one number", bytes: headerFile({ w: entry("U8", [0], [0]) }), reason: "offsets", tensor: "w" },
    { what: "data_offsets with begin > end", bytes: headerFile({ w: entry("U8", [0], [4, 0]) }, 4), reason: "offsets", tensor: "w" },
    { what: "negative data_offsets", bytes: headerFile({ w: entry("U8", [1], [-1, 0]) }, 1), reason: "offsets", tensor: "w" },
    { what: "data_offsets past the data section", bytes: headerFile({ w: entry("F32", [2], [0, 8]) }, 4), reason: "offsets", tensor: "w" },
    { what: "a byte range that disagrees with shape × itemsize", bytes: headerFile({ w: entry("F32", [4, 3], [0, 12]) }, 12), reason: "offsets", tensor: "w" },
    { what: "overlapping ranges", bytes: headerFile({ a: entry("F32", [2], [0, 8]), b: entry("F32", [2], [4, 12]) }, 12), reason: "overlap", tensor: "b" },
    { what: "a gap between tensors", bytes: headerFile({ a: entry("F32", [1], [0, 4]), b: entry("F32", [1], [8, 12]) }, 12), reason: "gap", tensor: "b" },
    { what: "a gap before the first tensor", bytes: headerFile({ a: entry("F32", [1], [4, 8]) }, 8), reason: "gap", tensor: "a" },
    { what: "trailing bytes after the last tensor", bytes: headerFile({ a: entry("F32", [1], [0, 4]) }, 6), reason: "gap" },
  ]

  test.each(cases)("$what", ({ bytes, reason, tensor }) => {
    const error = rejection(bytes)
    expect(error._tag).toBe("SafetensorsError")
    expect([error.reason, error.tensor]).toEqual([reason, tensor])
    expect(error.message.length).toBeGreaterThan(10)
  })

  test("the product-mismatch message gives both byte counts", () => {
    expect(rejection(cases[20]!.bytes).message).toContain("hold 12 bytes but F32[4,3] needs 48")
  })

  test("non-strict mode accepts gaps and trailing bytes but still rejects overlap", () => {
    const gappy = headerFile({ a: entry("U8", [1], [0, 1]), b: entry("U8", [1], [3, 4]) }, 6)
    expect(Object.keys(decodeSafetensorsSync(gappy, { strict: false }).tensors)).toEqual(["a", "b"])
    expect(rejection(cases[21]!.bytes, false).reason).toBe("overlap")
  })

  test("the Effect variant fails in the error channel rather than throwing", () => {
    const exit = Effect.runSyncExit(decodeSafetensors(new Uint8Array(3)))
    expect(Exit.isFailure(exit) && Exit.findErrorOption(exit)).toMatchObject({ value: { _tag: "SafetensorsError", reason: "truncated" } })
  })

  test("an empty header {} is a valid file with no tensors", () => {
    expect(decodeSafetensorsSync(fileWithHeader("{}      "))).toEqual({ tensors: {}, metadata: {} })
  })
})

/** A mutation of a valid file, described for the failure report. */
interface Mutation {
  readonly kind: string
  readonly apply: (file: Uint8Array) => Uint8Array
}

/** Header and data of a file an earlier mutation may have broken; header edits pass such files through. */
const splitOrUndefined = (file: Uint8Array): ReturnType<typeof splitFile> | undefined => {
  try {
    const parts = splitFile(file)
    return typeof parts.header === "object" && parts.header !== null && !Array.isArray(parts.header) ? parts : undefined
  } catch {
    return undefined
  }
}

/** Rewrite the header object of `file` and re-prefix it with its true length, keeping the data section. */
const editHeader = (file: Uint8Array, edit: (header: Record<string, unknown>) => void): Uint8Array => {
  const parts = splitOrUndefined(file)
  if (parts === undefined) return file
  edit(parts.header)
  return fileWithHeader(JSON.stringify(parts.header), parts.data)
}

/** Apply `edit` to the entry of tensor number `pick` (modulo the count); files without tensors pass unchanged. */
const editEntry = (pick: number, edit: (info: Record<string, unknown>) => void) => (file: Uint8Array) =>
  editHeader(file, (header) => {
    const names = Object.keys(header).filter((name) => name !== "__metadata__")
    const name = names[pick % Math.max(names.length, 1)]
    if (name !== undefined) edit(header[name] as Record<string, unknown>)
  })

const hugeOrBadDim = fc.constantFrom(-1, 1.5, 2 ** 53, 1e300, "3", null, [2])
const badOffset = fc.oneof(fc.integer({ min: -16, max: 4096 }), fc.constantFrom(-1, 0.5, 2 ** 60, "0", null))

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  // Cuts inside the 8-byte length prefix are rare among uniform cut points, so they get their own branch.
  fc.oneof(fc.nat(7), fc.nat()).map((at) => ({ kind: "truncate", apply: (f: Uint8Array) => f.subarray(0, at % f.byteLength) })),
  fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }).map((flips) => ({
    kind: "flip bytes",
    apply: (f: Uint8Array) => {
      const copy = f.slice()
      for (const [at, mask] of flips) copy[at % copy.byteLength]! ^= mask
      return copy
    },
  })),
  fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.integer({ min: -9, max: 9 }).map(BigInt)).map((length) => ({
    kind: "rewrite header length",
    apply: (f: Uint8Array) => {
      if (f.byteLength < 8) return f
      const copy = f.slice()
      const view = new DataView(copy.buffer)
      // Small values nudge the true length; others replace it.
      const nudged = length >= -9n && length <= 9n ? view.getBigUint64(0, true) + length : length
      view.setBigUint64(0, BigInt.asUintN(64, nudged), true)
      return copy
    },
  })),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 8 })).map(([pick, back]) => ({
    kind: "slide offsets to overlap",
    apply: editEntry(pick, (info) => {
      const [begin, end] = info["data_offsets"] as [number, number]
      info["data_offsets"] = [Math.max(0, begin - back), end - back]
    }),
  })),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 64 })).map(([pick, past]) => ({
    kind: "offsets past the end",
    apply: editEntry(pick, (info) => {
      const [begin, end] = info["data_offsets"] as [number, number]
      info["data_offsets"] = [begin, end + past]
    }),
  })),
  fc.tuple(fc.nat(), badOffset, badOffset).map(([pick, begin, end]) => ({ kind: "arbitrary offsets", apply: editEntry(pick, (info) => void (info["data_offsets"] = [begin, end])) })),
  fc.tuple(fc.nat(), fc.constantFrom("F8", "f32", "Q4_0", "", "toString", "__proto__", 32, null, "F16", "I8", "U32", "F64")).map(([pick, dtype]) => ({
    kind: "change dtype",
    apply: editEntry(pick, (info) => void (info["dtype"] = dtype)),
  })),
  fc.tuple(fc.nat(), fc.array(hugeOrBadDim, { minLength: 1, maxLength: 3 })).map(([pick, shape]) => ({ kind: "huge or bad dims", apply: editEntry(pick, (info) => void (info["shape"] = shape)) })),
  fc.oneof(fc.json(), fc.string({ unit: "binary", maxLength: 40 })).map((text) => ({
    kind: "garbage header",
    apply: (f: Uint8Array) => fileWithHeader(text, splitOrUndefined(f)?.data),
  })),
  fc.nat().map((pick) => ({
    kind: "drop an entry",
    apply: (f: Uint8Array) =>
      editHeader(f, (header) => {
        const names = Object.keys(header).filter((name) => name !== "__metadata__")
        if (names.length > 0) delete header[names[pick % names.length]!]
      }),
  })),
  fc.integer({ min: 1, max: 16 }).map((extra) => ({ kind: "trailing bytes", apply: (f: Uint8Array) => Uint8Array.from([...f, ...new Uint8Array(extra)]) })),
  fc.constantFrom<unknown>(1, null, [], { a: 2 }, "x").map((value) => ({ kind: "bad metadata", apply: (f: Uint8Array) => editHeader(f, (h) => void (h["__metadata__"] = { note: value })) })),
)

const smallTensorArb: fc.Arbitrary<TensorRecord> = fc.oneof(
  fc.array(fc.float(), { minLength: 0, maxLength: 6 }).map((v) => ({ dtype: "F32", shape: [v.length], data: Float32Array.from(v) }) as const),
  fc.array(fc.integer({ min: -128, max: 127 }), { minLength: 1, maxLength: 6 }).map((v) => ({ dtype: "I8", shape: [1, v.length], data: Int8Array.from(v) }) as const),
  fc.array(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), { minLength: 1, maxLength: 3 }).map((v) => ({ dtype: "I64", shape: [v.length], data: BigInt64Array.from(v) }) as const),
  fc.array(fc.float({ min: -1000, max: 1000, noNaN: true }), { minLength: 1, maxLength: 4 }).map((v) => ({ dtype: "F16", shape: [v.length], data: Float32Array.from(v, Math.f16round) }) as const),
)

const validFileArb = fc
  .tuple(fc.dictionary(fc.constantFrom("w", "b", "net.0.weight", "temb.bias", "é"), smallTensorArb, { minKeys: 1, maxKeys: 4 }), fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 6 }), { maxKeys: 2 }))
  .map(([tensors, metadata]) => encodeSafetensors(tensors, metadata))

describe("fuzzing: mutated valid files", () => {
  test("200 mutants each fail with a SafetensorsError or decode to a file that round-trips; nothing else is thrown", () => {
    const mutants = fc.sample(fc.tuple(validFileArb, fc.array(mutationArb, { minLength: 1, maxLength: 2 })), { numRuns: 200, seed: 2021 })
    const reasons = new Map<string, number>()
    let valid = 0
    const untyped: string[] = []
    for (const [file, mutations] of mutants) {
      const mutant = mutations.reduce((bytes, mutation) => mutation.apply(bytes), file)
      try {
        const decoded = decodeSafetensorsSync(mutant)
        // Still valid: it must survive encode → decode unchanged, bit for bit.
        const again = decodeSafetensorsSync(encodeSafetensors(decoded.tensors, decoded.metadata))
        expect(encodeSafetensors(again.tensors, again.metadata)).toEqual(encodeSafetensors(decoded.tensors, decoded.metadata))
        expect(Object.keys(again.tensors).sort()).toEqual(Object.keys(decoded.tensors).sort())
        valid++
      } catch (error) {
        if (error instanceof SafetensorsError) reasons.set(error.reason, (reasons.get(error.reason) ?? 0) + 1)
        else untyped.push(`${mutations.map((m) => m.kind).join(" + ")}: ${String(error)}`)
      }
    }
    const typed = [...reasons.values()].reduce((a, b) => a + b, 0)
    expect(untyped).toEqual([])
    expect(typed + valid).toBe(200)
    // The mutations must actually bite, and reach every layer of validation.
    expect(typed).toBeGreaterThan(150)
    const unreached = ["truncated", "header-length", "header-json", "metadata", "dtype", "shape", "offsets", "overlap", "gap"].filter((r) => !reasons.has(r))
    expect(unreached).toEqual([])
    console.log(`fuzz: ${typed} typed rejections ${JSON.stringify(Object.fromEntries(reasons))}, ${valid} still valid`)
  })
})
