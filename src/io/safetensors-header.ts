/**
 * The safetensors container layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON naming each
 * tensor's dtype, shape and byte range, then the raw data. This file parses and validates that header as strictly
 * as the reference Rust loader (used by PyTorch's `safetensors.torch.load_file`), and builds it for the encoder.
 */
import { Data } from "effect"

/** Bytes per element of every supported dtype, keyed by the dtype string as it appears in the header. */
export const itemSize = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, U32: 4, BOOL: 1 } as const

/** A dtype string of the safetensors format that this library reads and writes. */
export type Dtype = keyof typeof itemSize

/** What was wrong with a file (or with tensors handed to the encoder, or with a checkpoint against its model). */
export type SafetensorsReason =
  | "truncated"
  | "header-length"
  | "header-json"
  | "metadata"
  | "name"
  | "dtype"
  | "shape"
  | "offsets"
  | "overlap"
  | "gap"
  | "non-finite"
  | "missing"
  | "unexpected"

/** A malformed or mismatching safetensors file; `tensor` names the offending entry when there is one. */
export class SafetensorsError extends Data.TaggedError("SafetensorsError")<{
  readonly message: string
  readonly reason: SafetensorsReason
  readonly tensor?: string | undefined
}> {}

/** One validated header entry; `begin`/`end` are byte offsets relative to the start of the data section. */
export interface HeaderEntry {
  readonly name: string
  readonly dtype: Dtype
  readonly shape: readonly number[]
  readonly begin: number
  readonly end: number
}

/** A validated header: entries sorted by `begin`, the `__metadata__` strings, and where the data section starts. */
export interface ParsedHeader {
  readonly entries: readonly HeaderEntry[]
  readonly metadata: Readonly<Record<string, string>>
  readonly dataStart: number
}

/** The reference loader's cap: a header past this is an attack or corruption, never a real checkpoint. */
export const maxHeaderBytes = 100_000_000

const metadataKey = "__metadata__"

const fail = (reason: SafetensorsReason, message: string, tensor?: string): never => {
  throw new SafetensorsError({ reason, message, tensor })
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** True for a dtype string this library supports (own keys only, so "constructor" is not a dtype). */
export const isDtype = (value: unknown): value is Dtype => typeof value === "string" && Object.hasOwn(itemSize, value)

/**
 * Element count of `shape`, or a typed "shape" error for dims that are negative, fractional or not numbers, and for
 * products past 2^53 (multiplied left to right, so an overflow is caught even when a later dim is 0, as in Rust).
 */
export const elementCount = (shape: unknown, tensor: string): number => {
  if (!Array.isArray(shape)) return fail("shape", `tensor "${tensor}": shape must be an array, got ${JSON.stringify(shape)}`, tensor)
  let count = 1
  for (const dim of shape) {
    if (typeof dim !== "number" || !Number.isSafeInteger(dim) || dim < 0) {
      return fail("shape", `tensor "${tensor}": shape ${JSON.stringify(shape)} has a dim that is not a non-negative integer`, tensor)
    }
    count *= dim
    if (count > Number.MAX_SAFE_INTEGER) {
      return fail("shape", `tensor "${tensor}": shape ${JSON.stringify(shape)} overflows the element count`, tensor)
    }
  }
  return count
}

/** Byte length of a tensor of `dtype` and `shape`, with the same overflow guard as `elementCount`. */
export const byteLength = (dtype: Dtype, shape: unknown, tensor: string): number => {
  const bytes = elementCount(shape, tensor) * itemSize[dtype]
  if (bytes > Number.MAX_SAFE_INTEGER) return fail("shape", `tensor "${tensor}": ${dtype}${JSON.stringify(shape)} overflows the byte length`, tensor)
  return bytes
}

const readHeaderLength = (bytes: Uint8Array): number => {
  if (bytes.byteLength < 8) return fail("truncated", `file is ${bytes.byteLength} bytes, shorter than the 8-byte header length`)
  const length = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true)
  if (length === 0n) return fail("header-length", "header length is 0; a safetensors header is at least \"{}\"")
  if (length > BigInt(maxHeaderBytes)) return fail("header-length", `header length ${length} exceeds the ${maxHeaderBytes}-byte cap`)
  if (length > BigInt(bytes.byteLength - 8)) {
    return fail("header-length", `header length ${length} runs past the end of the ${bytes.byteLength}-byte file`)
  }
  return Number(length)
}

const parseJsonObject = (raw: Uint8Array): Record<string, unknown> => {
  let parsed: unknown
  try {
    // `fatal` so that invalid UTF-8 is an error rather than silently replaced with U+FFFD.
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw))
  } catch (cause) {
    return fail("header-json", `header is not valid UTF-8 JSON: ${(cause as Error).message}`)
  }
  if (!isPlainObject(parsed)) return fail("header-json", `header must be a JSON object, got ${Array.isArray(parsed) ? "an array" : String(parsed)}`)
  return parsed
}

const parseMetadata = (value: unknown): Record<string, string> => {
  const metadata: Record<string, string> = Object.create(null)
  if (value === undefined || value === null) return metadata
  if (!isPlainObject(value)) return fail("metadata", `${metadataKey} must be an object of strings, got ${JSON.stringify(value)}`)
  for (const [key, text] of Object.entries(value)) {
    if (typeof text !== "string") return fail("metadata", `${metadataKey}["${key}"] must be a string, got ${JSON.stringify(text)}`)
    metadata[key] = text
  }
  return metadata
}

const isOffset = (value: unknown): value is number => typeof value === "number" && Number.isSafeInteger(value) && value >= 0

const parseEntry = (name: string, info: unknown, dataLength: number): HeaderEntry => {
  if (!isPlainObject(info)) return fail("header-json", `tensor "${name}": entry must be an object, got ${JSON.stringify(info)}`, name)
  const { dtype, shape, data_offsets: offsets } = info
  if (!isDtype(dtype)) {
    return fail("dtype", `tensor "${name}": unknown dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(itemSize).join(", ")})`, name)
  }
  const bytes = byteLength(dtype, shape, name)
  if (!Array.isArray(offsets) || offsets.length !== 2 || !isOffset(offsets[0]) || !isOffset(offsets[1]) || offsets[0] > offsets[1]) {
    return fail("offsets", `tensor "${name}": data_offsets must be [begin, end] with 0 <= begin <= end, got ${JSON.stringify(offsets)}`, name)
  }
  const [begin, end] = offsets as [number, number]
  if (end > dataLength) return fail("offsets", `tensor "${name}": data_offsets [${begin}, ${end}] run past the ${dataLength}-byte data section`, name)
  if (end - begin !== bytes) {
    return fail("offsets", `tensor "${name}": data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${dtype}${JSON.stringify(shape)} needs ${bytes}`, name)
  }
  return { name, dtype, shape: [...(shape as number[])], begin, end }
}

/**
 * Ranges must not overlap; in strict mode they must also tile the data section exactly — no gap before, between or
 * after them — as the reference loader demands, so that no bytes of a file go unexplained.
 */
const checkLayout = (entries: readonly HeaderEntry[], dataLength: number, strict: boolean): void => {
  let covered = 0
  let previous: HeaderEntry | undefined
  for (const entry of entries) {
    if (previous !== undefined && entry.begin < covered) {
      fail("overlap", `tensor "${entry.name}" [${entry.begin}, ${entry.end}] overlaps tensor "${previous.name}" [${previous.begin}, ${previous.end}]`, entry.name)
    }
    if (strict && entry.begin > covered) {
      fail("gap", `bytes [${covered}, ${entry.begin}) before tensor "${entry.name}" belong to no tensor`, entry.name)
    }
    if (entry.end >= covered) {
      covered = entry.end
      previous = entry
    }
  }
  if (strict && covered < dataLength) fail("gap", `${dataLength - covered} trailing bytes after the last tensor belong to no tensor`)
}

/** Parse and validate the header of a whole safetensors file; throws `SafetensorsError`, never anything else. */
export const parseHeader = (bytes: Uint8Array, strict: boolean): ParsedHeader => {
  const headerLength = readHeaderLength(bytes)
  const json = parseJsonObject(bytes.subarray(8, 8 + headerLength))
  const dataStart = 8 + headerLength
  const dataLength = bytes.byteLength - dataStart
  const entries = Object.entries(json)
    .filter(([name]) => name !== metadataKey)
    .map(([name, info]) => parseEntry(name, info, dataLength))
    .sort((a, b) => a.begin - b.begin || a.end - b.end)
  checkLayout(entries, dataLength, strict)
  return { entries, metadata: parseMetadata(json[metadataKey]), dataStart }
}

/** What the encoder needs to lay out one tensor. */
export interface LayoutEntry {
  readonly name: string
  readonly dtype: Dtype
  readonly shape: readonly number[]
  readonly bytes: number
}

/**
 * The header bytes for tensors stored back to back in the given order, `__metadata__` first, compact JSON as the
 * Rust writer emits it, padded with spaces so that the data section starts on an 8-byte boundary.
 */
export const buildHeader = (entries: readonly LayoutEntry[], metadata: Readonly<Record<string, string>>): Uint8Array => {
  // Built by hand rather than with one JSON.stringify: JS objects put integer-like keys ("0", "12") first, which
  // would break the promised order of names.
  const fields: string[] = []
  if (Object.keys(metadata).length > 0) {
    const sorted = Object.keys(metadata).sort().map((key) => `${JSON.stringify(key)}:${JSON.stringify(metadata[key])}`)
    fields.push(`${JSON.stringify(metadataKey)}:{${sorted.join(",")}}`)
  }
  let offset = 0
  for (const entry of entries) {
    const info = { dtype: entry.dtype, shape: entry.shape, data_offsets: [offset, offset + entry.bytes] }
    fields.push(`${JSON.stringify(entry.name)}:${JSON.stringify(info)}`)
    offset += entry.bytes
  }
  const json = new TextEncoder().encode(`{${fields.join(",")}}`)
  const padded = Math.ceil(json.byteLength / 8) * 8
  const header = new Uint8Array(8 + padded).fill(0x20, 8 + json.byteLength)
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true)
  header.set(json, 8)
  return header
}
