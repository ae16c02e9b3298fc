/**
 * The safetensors format (the one PyTorch's `safetensors.torch.save_file` writes) over bytes: a pure encoder and
 * decoder, and a check of a file against the tensors a model expects. No file system: browsers use it as is;
 * `src/platform/files/safetensors.ts` adds reading and atomic writing of files. Header parsing and validation live in
 * `safetensors-header.ts`.
 */
import { Effect } from "effect"
import { buildHeader, byteLength, isDtype, itemSize, parseHeader, SafetensorsError, type Dtype } from "./safetensors-header.ts"

export { SafetensorsError, type Dtype, type SafetensorsReason } from "./safetensors-header.ts"

/** The typed array each dtype decodes to: F16 and BF16 widen to Float32Array, I64 stays exact as BigInt64Array. */
export interface DtypeArray {
  F64: Float64Array
  F32: Float32Array
  F16: Float32Array
  BF16: Float32Array
  I64: BigInt64Array
  I32: Int32Array
  I16: Int16Array
  I8: Int8Array
  U8: Uint8Array
  U32: Uint32Array
  BOOL: Uint8Array
}

/** One tensor: row-major `data` of `shape`, its array type tied to `dtype` (narrow on `dtype` to get the array type). */
export type TensorRecord = {
  [D in Dtype]: { readonly dtype: D; readonly shape: readonly number[]; readonly data: DtypeArray[D] }
}[Dtype]

/** A decoded file: tensors by name and the string-to-string `__metadata__` (empty when the file has none). */
export interface Safetensors {
  readonly tensors: Readonly<Record<string, TensorRecord>>
  readonly metadata: Readonly<Record<string, string>>
}

/** Decoder options; `strict` (default true) rejects bytes of the data section that belong to no tensor. */
export interface DecodeOptions {
  readonly strict?: boolean
}

/** What `checkAgainst` tolerates: names the model does not expect, and NaN/Inf in float tensors. */
export interface CheckOptions {
  readonly allowExtra?: boolean
  readonly rejectNonFinite?: boolean
}

/** The tensors a model expects, by name. */
export type ExpectedTensors = Readonly<Record<string, { readonly shape: readonly number[]; readonly dtype: Dtype }>>

const arrayType = {
  F64: Float64Array, F32: Float32Array, F16: Float32Array, BF16: Float32Array, I64: BigInt64Array, I32: Int32Array,
  I16: Int16Array, I8: Int8Array, U8: Uint8Array, U32: Uint32Array, BOOL: Uint8Array,
} as const

// The format is little-endian; typed arrays use the host's order, so a big-endian host swaps each element.
const hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

const swapBytesInPlace = (bytes: Uint8Array, width: number): void => {
  if (hostIsLittleEndian || width === 1) return
  for (let at = 0; at < bytes.byteLength; at += width) bytes.subarray(at, at + width).reverse()
}

// Half-precision conversions work on bit patterns, never on JS numbers: widening a float32 signalling NaN to a
// double quiets it, and the promise here is a bit-exact round trip, NaN payloads included.

/** IEEE binary16 bits → binary32 bits; exact (every half is a float), NaN payloads shift into the high mantissa. */
const halfToFloatBits = (half: number): number => {
  const sign = (half & 0x8000) << 16
  const exponent = (half >> 10) & 0x1f
  let mantissa = half & 0x3ff
  if (exponent === 0x1f) return (sign | 0x7f800000 | (mantissa << 13)) >>> 0
  if (exponent !== 0) return (sign | ((exponent + 112) << 23) | (mantissa << 13)) >>> 0
  if (mantissa === 0) return sign >>> 0
  // Subnormal half (mantissa · 2^-24): shift until the leading one becomes the implicit bit of a normal float.
  let floatExponent = 113
  while ((mantissa & 0x400) === 0) {
    mantissa <<= 1
    floatExponent--
  }
  return (sign | (floatExponent << 23) | ((mantissa & 0x3ff) << 13)) >>> 0
}

/** binary32 bits → binary16 bits, rounding to nearest even; overflow gives ±Inf, NaN stays NaN with its top payload. */
const floatBitsToHalf = (bits: number): number => {
  const sign = (bits >>> 16) & 0x8000
  const exponent = (bits >>> 23) & 0xff
  const mantissa = bits & 0x7fffff
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa === 0 ? 0 : mantissa >>> 13 || 0x200)
  const halfExponent = exponent - 112
  if (halfExponent >= 0x1f) return sign | 0x7c00
  if (halfExponent <= 0) {
    // Subnormal result: the value in units of 2^-24 is the 24-bit significand shifted right by 14 - halfExponent.
    const shift = 14 - halfExponent
    if (shift > 24) return sign
    const significand = mantissa | 0x800000
    const rest = significand & ((1 << shift) - 1)
    const halfway = 1 << (shift - 1)
    const truncated = significand >>> shift
    return sign | (truncated + (rest > halfway || (rest === halfway && (truncated & 1) === 1) ? 1 : 0))
  }
  const truncated = (halfExponent << 10) | (mantissa >>> 13)
  const rest = mantissa & 0x1fff
  // A carry out of the mantissa bumps the exponent, which is exactly the right rounding (up to Inf).
  return sign | (truncated + (rest > 0x1000 || (rest === 0x1000 && (truncated & 1) === 1) ? 1 : 0))
}

/** binary32 bits → bfloat16 bits (the top half), rounding to nearest even; NaN keeps its sign and stays NaN. */
const floatBitsToBfloat = (bits: number): number => {
  if ((bits & 0x7fffffff) > 0x7f800000) {
    // A payload only in the dropped low half would read as Inf: set the quiet bit so it stays a NaN.
    const top = bits >>> 16
    return (top & 0x7f) === 0 ? top | 0x40 : top
  }
  return (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16
}

/** The little-endian bytes of one tensor as stored in the file. */
const tensorBytes = (tensor: TensorRecord): Uint8Array => {
  const { dtype, data } = tensor
  if (dtype === "F16" || dtype === "BF16") {
    const floatBits = new Uint32Array(data.buffer, data.byteOffset, data.length)
    const narrow = dtype === "F16" ? floatBitsToHalf : floatBitsToBfloat
    const halves = Uint16Array.from(floatBits, narrow)
    const bytes = new Uint8Array(halves.buffer)
    swapBytesInPlace(bytes, 2)
    return bytes
  }
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  if (hostIsLittleEndian) return view
  const copy = new Uint8Array(view)
  swapBytesInPlace(copy, itemSize[dtype])
  return copy
}

/** Turn the stored bytes of one tensor into its typed array (copied, so it is aligned and owns its memory). */
const tensorFromBytes = (dtype: Dtype, shape: readonly number[], stored: Uint8Array): TensorRecord => {
  // A copy by construction: `slice` on a Node Buffer would share the file's memory (and its unaligned offset).
  const bytes = new Uint8Array(stored)
  swapBytesInPlace(bytes, itemSize[dtype])
  if (dtype === "F16" || dtype === "BF16") {
    const halves = new Uint16Array(bytes.buffer)
    const floatBits = dtype === "F16" ? Uint32Array.from(halves, halfToFloatBits) : Uint32Array.from(halves, (h) => h << 16)
    return { dtype, shape, data: new Float32Array(floatBits.buffer) }
  }
  return { dtype, shape, data: new arrayType[dtype](bytes.buffer) } as TensorRecord
}

const checkTensor = (name: string, tensor: TensorRecord): number => {
  if (name === "__metadata__") throw new SafetensorsError({ reason: "name", message: `"__metadata__" is reserved and cannot name a tensor`, tensor: name })
  if (!isDtype(tensor.dtype)) {
    throw new SafetensorsError({ reason: "dtype", message: `tensor "${name}": unknown dtype ${JSON.stringify(tensor.dtype)}`, tensor: name })
  }
  const expected = arrayType[tensor.dtype]
  if (!(tensor.data instanceof expected)) {
    const got = (tensor.data as object | undefined)?.constructor?.name ?? String(tensor.data)
    throw new SafetensorsError({ reason: "dtype", message: `tensor "${name}": ${tensor.dtype} data must be a ${expected.name}, got ${got}`, tensor: name })
  }
  const bytes = byteLength(tensor.dtype, tensor.shape, name)
  const elements = bytes / itemSize[tensor.dtype]
  if (tensor.data.length !== elements) {
    throw new SafetensorsError({
      reason: "shape",
      message: `tensor "${name}": shape ${JSON.stringify(tensor.shape)} needs ${elements} elements, data has ${tensor.data.length}`,
      tensor: name,
    })
  }
  return bytes
}

/**
 * Encode tensors (in sorted name order) and string metadata into safetensors bytes; deterministic, data section
 * 8-byte aligned. F16/BF16 data is rounded to nearest even. Throws `SafetensorsError` for invalid input.
 */
export const encodeSafetensors = (tensors: Readonly<Record<string, TensorRecord>>, metadata: Readonly<Record<string, string>> = {}): Uint8Array => {
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== "string") {
      throw new SafetensorsError({ reason: "metadata", message: `metadata["${key}"] must be a string, got ${typeof value} ${String(value)}` })
    }
  }
  const names = Object.keys(tensors).sort()
  const layout = names.map((name) => {
    const tensor = tensors[name] as TensorRecord
    return { name, dtype: tensor.dtype, shape: tensor.shape, bytes: checkTensor(name, tensor) }
  })
  const header = buildHeader(layout, metadata)
  const out = new Uint8Array(header.byteLength + layout.reduce((sum, entry) => sum + entry.bytes, 0))
  out.set(header, 0)
  let offset = header.byteLength
  for (const name of names) {
    const bytes = tensorBytes(tensors[name] as TensorRecord)
    out.set(bytes, offset)
    offset += bytes.byteLength
  }
  return out
}

/** Decode and fully validate safetensors bytes; throws `SafetensorsError` and never returns a partial result. */
export const decodeSafetensorsSync = (bytes: Uint8Array, options: DecodeOptions = {}): Safetensors => {
  const header = parseHeader(bytes, options.strict ?? true)
  // A null prototype, so that a tensor named "__proto__" or "constructor" is just a name.
  const tensors: Record<string, TensorRecord> = Object.create(null)
  for (const { name, dtype, shape, begin, end } of header.entries) {
    tensors[name] = tensorFromBytes(dtype, shape, bytes.subarray(header.dataStart + begin, header.dataStart + end))
  }
  return { tensors, metadata: header.metadata }
}

/** Run a core function that throws only `SafetensorsError`; anything else is a bug and surfaces as a defect. */
export const safetensorsEffect = <A>(run: () => A): Effect.Effect<A, SafetensorsError> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(run())
    } catch (error) {
      if (error instanceof SafetensorsError) return Effect.fail(error)
      throw error
    }
  })

/** `decodeSafetensorsSync` as an Effect with the typed error in the error channel. */
export const decodeSafetensors = (bytes: Uint8Array, options: DecodeOptions = {}): Effect.Effect<Safetensors, SafetensorsError> =>
  safetensorsEffect(() => decodeSafetensorsSync(bytes, options))

/** Row-major multi-index of flat `index` in `shape`, for error messages. */
const multiIndex = (index: number, shape: readonly number[]): number[] => {
  const position: number[] = []
  let rest = index
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    const dim = shape[axis] as number
    position.unshift(rest % dim)
    rest = Math.floor(rest / dim)
  }
  return position
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((dim, i) => dim === b[i])

/** `checkAgainst` without Effect: throws the SafetensorsError. */
export const checkSafetensorsSync = (file: Safetensors, expected: ExpectedTensors, options: CheckOptions): Safetensors => {
  const missing = Object.keys(expected).filter((name) => !Object.hasOwn(file.tensors, name))
  if (missing.length > 0) {
    throw new SafetensorsError({ reason: "missing", message: `checkpoint lacks ${missing.length} expected tensor(s): ${missing.join(", ")}`, tensor: missing[0] })
  }
  const unexpected = Object.keys(file.tensors).filter((name) => !Object.hasOwn(expected, name))
  if (unexpected.length > 0 && !(options.allowExtra ?? false)) {
    throw new SafetensorsError({ reason: "unexpected", message: `checkpoint has ${unexpected.length} unexpected tensor(s): ${unexpected.join(", ")}`, tensor: unexpected[0] })
  }
  for (const [name, want] of Object.entries(expected)) {
    const got = file.tensors[name] as TensorRecord
    if (got.dtype !== want.dtype) {
      throw new SafetensorsError({ reason: "dtype", message: `tensor "${name}": expected dtype ${want.dtype}, file has ${got.dtype}`, tensor: name })
    }
    if (!sameShape(got.shape, want.shape)) {
      throw new SafetensorsError({ reason: "shape", message: `tensor "${name}": expected shape [${want.shape.join(", ")}], file has [${got.shape.join(", ")}]`, tensor: name })
    }
  }
  if (options.rejectNonFinite ?? false) {
    for (const name of Object.keys(file.tensors).sort()) {
      const tensor = file.tensors[name] as TensorRecord
      if (!(tensor.data instanceof Float32Array || tensor.data instanceof Float64Array)) continue
      const bad = tensor.data.findIndex((value) => !Number.isFinite(value))
      if (bad >= 0) {
        throw new SafetensorsError({
          reason: "non-finite",
          message: `tensor "${name}" holds ${tensor.data[bad]} at flat index ${bad} ([${multiIndex(bad, tensor.shape).join(", ")}])`,
          tensor: name,
        })
      }
    }
  }
  return file
}

/**
 * Check a decoded file against the tensors a model expects: missing names, unexpected names (unless `allowExtra`),
 * dtype and shape of each, and NaN/Inf when `rejectNonFinite`. Succeeds with the same file.
 */
export const checkAgainst = (file: Safetensors, expected: ExpectedTensors, options: CheckOptions = {}): Effect.Effect<Safetensors, SafetensorsError> =>
  safetensorsEffect(() => checkSafetensorsSync(file, expected, options))
