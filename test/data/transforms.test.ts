import { describe, expect, test, setDefaultTimeout } from "bun:test"
import fc from "fast-check"
import { seededUniform } from "../../src/data/host-random.ts"
import {
  bitsPerDim,
  dequantize,
  LOGIT_ALPHA,
  logitInverse,
  logitTransform,
  quantize,
  randomHorizontalFlip,
  toUnitInterval,
} from "../../src/data/transforms.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const allPixels = Uint8Array.from({ length: 256 }, (_, i) => i)

describe("dequantisation", () => {
  test("(x + u)/256 stays inside pixel x's bin [x/256, (x+1)/256)", () => {
    const x = dequantize(allPixels, seededUniform(3))
    allPixels.forEach((p, i) => {
      expect(x[i]!).toBeGreaterThanOrEqual(p / 256)
      expect(x[i]!).toBeLessThan((p + 1) / 256)
    })
  })

  test("u = 0 and u → 1 hit the bin's edges exactly", () => {
    expect(Array.from(dequantize(Uint8Array.of(0, 255), () => 0))).toEqual([0, 255 / 256])
    expect(dequantize(Uint8Array.of(255), () => 0.999999)[0]!).toBeCloseTo(1, 5)
  })

  test("quantize inverts both dequantize and toUnitInterval", () => {
    expect(quantize(dequantize(allPixels, seededUniform(9)))).toEqual(allPixels)
    expect(quantize(toUnitInterval(allPixels))).toEqual(allPixels)
    expect(Array.from(quantize([-0.3, 1.7]))).toEqual([0, 255])
  })

  test("bits per dimension of a uniform density on [0,1)^D is exactly 8", () => {
    expect(bitsPerDim(0, 3072)).toBe(8)
    expect(bitsPerDim(3072 * Math.LN2, 3072)).toBeCloseTo(9, 12)
  })
})

describe("random horizontal flip", () => {
  const shape = { channels: 2, height: 2, width: 3 }
  // Two images; each value encodes (image, channel, row, col) so a wrong index shows up.
  const batch = Float32Array.from({ length: 24 }, (_, i) => i)

  test("mirrors each row of each channel of the flagged images only", () => {
    const out = randomHorizontalFlip(batch, [false, true], shape)
    expect(Array.from(out.subarray(0, 12))).toEqual(Array.from(batch.subarray(0, 12)))
    expect(Array.from(out.subarray(12))).toEqual([14, 13, 12, 17, 16, 15, 20, 19, 18, 23, 22, 21])
    expect(batch[12]).toBe(12)
  })

  test("flipping twice is the identity", () => {
    expect(randomHorizontalFlip(randomHorizontalFlip(batch, [1, 1], shape), [1, 1], shape)).toEqual(batch)
  })

  test("rejects a batch whose size is not a whole number of images", () => {
    expect(() => randomHorizontalFlip(batch, [true], shape)).toThrow(RangeError)
  })
})

describe("logit transform (α = 0.05)", () => {
  test("inverse round-trips to 1e-12 in float64 across [0, 1]", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 4, maxLength: 4 }), (values) => {
        const x = Float64Array.from(values)
        const back = logitInverse(logitTransform(x, 4).y)
        x.forEach((v, i) => expect(Math.abs(back[i]! - v)).toBeLessThan(1e-12))
      }),
    )
  })

  test("maps 0 and 1 to ±logit(0.95), the ends of the squeezed interval", () => {
    const { y } = logitTransform(Float64Array.of(0, 0.5, 1), 3)
    expect(y[0]!).toBeCloseTo(Math.log(0.05 / 0.95), 12)
    expect(y[1]!).toBeCloseTo(0, 12)
    expect(y[2]!).toBeCloseTo(Math.log(0.95 / 0.05), 12)
  })

  test("per-image log-det equals log|det J| of a central-difference Jacobian in float64", () => {
    const dims = 5
    const uniform = seededUniform(21)
    const x = Float64Array.from({ length: 2 * dims }, () => uniform())
    const { logDet } = logitTransform(x, dims)
    const h = 1e-6
    for (let image = 0; image < 2; image++) {
      // Build the full dims×dims Jacobian by perturbing one input at a time; off-diagonals must vanish.
      const jacobian: number[][] = []
      for (let j = 0; j < dims; j++) {
        const plus = x.slice()
        const minus = x.slice()
        plus[image * dims + j]! += h
        minus[image * dims + j]! -= h
        const yPlus = logitTransform(plus, dims).y
        const yMinus = logitTransform(minus, dims).y
        jacobian.push(Array.from({ length: dims }, (_, i) => (yPlus[image * dims + i]! - yMinus[image * dims + i]!) / (2 * h)))
      }
      const offDiagonal = jacobian.flatMap((row, j) => row.filter((_, i) => i !== j))
      expect(Math.max(...offDiagonal.map(Math.abs))).toBe(0)
      const logDetFd = jacobian.reduce((sum, row, j) => sum + Math.log(Math.abs(row[j]!)), 0)
      expect(Math.abs(logDet[image]! - logDetFd)).toBeLessThan(1e-7)
    }
  })

  test("log-det of an image is the sum of its pixels' terms, so it depends on that image only", () => {
    const dims = 3
    const a = logitTransform(Float64Array.of(0.1, 0.5, 0.9, 0.2, 0.2, 0.2), dims).logDet
    const b = logitTransform(Float64Array.of(0.1, 0.5, 0.9, 0.7, 0.7, 0.7), dims).logDet
    expect(a[0]).toBe(b[0]!)
    expect(a[1]).not.toBe(b[1]!)
    const term = (v: number) => {
      const s = LOGIT_ALPHA + (1 - 2 * LOGIT_ALPHA) * v
      return Math.log(1 - 2 * LOGIT_ALPHA) - Math.log(s) - Math.log(1 - s)
    }
    expect(a[1]!).toBeCloseTo(3 * term(0.2), 12)
  })

  test("float32 input keeps float32 output", () => {
    expect(logitTransform(new Float32Array(3072)).y).toBeInstanceOf(Float32Array)
    expect(logitInverse(new Float32Array(4))).toBeInstanceOf(Float32Array)
  })
})
