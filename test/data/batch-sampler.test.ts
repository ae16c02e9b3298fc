import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { type Batch, batches, batchesPerEpoch, epochPermutation, nextCursor } from "../../src/data/batch-sampler.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const take = (iterator: Iterator<Batch>, n: number): Batch[] => Array.from({ length: n }, () => iterator.next().value as Batch)
const options = { size: 10, batchSize: 3, seed: 42 }

describe("epoch permutation", () => {
  test("is a permutation of 0..n−1", () => {
    const order = epochPermutation(1000, 7, 3)
    expect(Array.from(order).sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i))
  })

  test("the same (seed, epoch) gives the same order; another epoch or seed does not", () => {
    expect(epochPermutation(100, 7, 0)).toEqual(epochPermutation(100, 7, 0))
    expect(epochPermutation(100, 7, 1)).not.toEqual(epochPermutation(100, 7, 0))
    expect(epochPermutation(100, 8, 0)).not.toEqual(epochPermutation(100, 7, 0))
  })

  test("every index is roughly equally likely in first place (χ² over 2000 epochs)", () => {
    const n = 8
    const firsts = new Array<number>(n).fill(0)
    for (let epoch = 0; epoch < 2000; epoch++) firsts[epochPermutation(n, 1, epoch)[0]!]!++
    const expected = 2000 / n
    const chi2 = firsts.reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0)
    // 7 degrees of freedom: P(χ² > 24.3) ≈ 0.001.
    expect(chi2).toBeLessThan(24.3)
  })
})

describe("batches", () => {
  test("an epoch visits every example once, in full batches (the short tail dropped by default)", () => {
    expect(batchesPerEpoch(options)).toBe(3)
    const epoch = take(batches(options), 3)
    const seen = epoch.flatMap((b) => Array.from(b.indices))
    expect(epoch.every((b) => b.indices.length === 3)).toBe(true)
    expect(new Set(seen).size).toBe(9)
    expect(epoch.map((b) => [b.epoch, b.position])).toEqual([[0, 0], [0, 1], [0, 2]])
  })

  test("with dropLast false the final batch is short and the epoch covers all examples", () => {
    const keep = { ...options, dropLast: false }
    const epoch = take(batches(keep), batchesPerEpoch(keep))
    expect(epoch.map((b) => b.indices.length)).toEqual([3, 3, 3, 1])
    expect(new Set(epoch.flatMap((b) => Array.from(b.indices))).size).toBe(10)
  })

  test("the next epoch is reshuffled", () => {
    const [first, , , second] = take(batches(options), 4)
    expect(second!.epoch).toBe(1)
    expect(Array.from(second!.indices)).not.toEqual(Array.from(first!.indices))
  })

  test("resuming from a saved cursor continues exactly where an uninterrupted run would be", () => {
    const straight = take(batches(options), 11)
    const saved = nextCursor(straight[4]!, options)
    const resumed = take(batches(options, saved), 6)
    expect(resumed).toEqual(straight.slice(5))
  })

  test("rejects a batch size larger than the dataset when dropping the tail", () => {
    expect(() => batches({ size: 2, batchSize: 3, seed: 0 }).next()).toThrow(RangeError)
  })
})
