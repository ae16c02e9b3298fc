/**
 * Epoch-shuffled minibatch indices, a pure function of (seed, epoch, position): the same seed gives the
 * same order, and a run resumed from a checkpointed cursor sees exactly the batches it would have seen.
 */
import { mixSeed, seededWords } from "./host-random.ts"

/** What to sample from and how. */
export interface BatchSamplerOptions {
  /** Number of examples (e.g. 50 000). */
  readonly size: number
  readonly batchSize: number
  readonly seed: number
  /** Skip an epoch's final short batch so every batch has `batchSize` indices (default true). */
  readonly dropLast?: boolean
}

/** Where a sampler stands: the epoch and the index of the next batch within it. Save this to resume. */
export interface BatchCursor {
  readonly epoch: number
  readonly position: number
}

/** One minibatch and where it sits. */
export interface Batch extends BatchCursor {
  readonly indices: Uint32Array
}

/** Batches per epoch under these options. */
export const batchesPerEpoch = (options: BatchSamplerOptions): number => {
  const { size, batchSize, dropLast = true } = options
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`)
  return dropLast ? Math.floor(size / batchSize) : Math.ceil(size / batchSize)
}

/** The shuffled order of 0..size−1 for one epoch (Fisher–Yates driven by a PRNG seeded from seed and epoch). */
export const epochPermutation = (size: number, seed: number, epoch: number): Uint32Array => {
  const order = new Uint32Array(size)
  for (let i = 0; i < size; i++) order[i] = i
  const words = seededWords(mixSeed(seed, epoch))
  for (let i = size - 1; i > 0; i--) {
    // Multiply-shift maps 32 random bits onto 0..i; its bias (≤ size/2^32) is far below sampling noise.
    const j = Math.floor((words() * (i + 1)) / 4294967296)
    const t = order[i]!
    order[i] = order[j]!
    order[j] = t
  }
  return order
}

/** The cursor after `batch`: the next position, or the start of the next epoch. */
export const nextCursor = (batch: BatchCursor, options: BatchSamplerOptions): BatchCursor =>
  batch.position + 1 < batchesPerEpoch(options) ? { epoch: batch.epoch, position: batch.position + 1 } : { epoch: batch.epoch + 1, position: 0 }

/** An endless stream of batches starting at `from` (default: epoch 0, position 0). */
export function* batches(options: BatchSamplerOptions, from: BatchCursor = { epoch: 0, position: 0 }): Generator<Batch, never> {
  const perEpoch = batchesPerEpoch(options)
  if (perEpoch === 0) throw new RangeError(`${options.size} examples make no batch of ${options.batchSize}`)
  if (!(Number.isInteger(from.position) && from.position >= 0 && from.position < perEpoch)) {
    throw new RangeError(`cursor position ${from.position} is outside the ${perEpoch} batches of an epoch`)
  }
  let cursor = from
  let order = epochPermutation(options.size, options.seed, cursor.epoch)
  for (;;) {
    const start = cursor.position * options.batchSize
    const indices = order.slice(start, Math.min(start + options.batchSize, options.size))
    yield { ...cursor, indices }
    const next = nextCursor(cursor, options)
    if (next.epoch !== cursor.epoch) order = epochPermutation(options.size, options.seed, next.epoch)
    cursor = next
  }
}
