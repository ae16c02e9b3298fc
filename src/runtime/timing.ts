/** GPU time of compute passes via timestamp queries, when the adapter offers `timestamp-query`. */
import { Usage } from "./flags.ts"

/** Records begin/end timestamps for up to `capacity` passes and reads their durations in ms. */
export class PassTimer {
  private readonly querySet: GPUQuerySet
  private readonly resolve: GPUBuffer
  private used = 0

  constructor(
    private readonly device: GPUDevice,
    readonly capacity: number,
  ) {
    this.querySet = device.createQuerySet({ type: "timestamp", count: 2 * capacity })
    this.resolve = device.createBuffer({
      size: 16 * capacity,
      usage: Usage.QUERY_RESOLVE | Usage.COPY_SRC,
    })
  }

  /** The `timestampWrites` for the next pass (undefined when full, so extra passes go untimed). */
  next(): GPUComputePassTimestampWrites | undefined {
    if (this.used >= this.capacity) return undefined
    const i = this.used++
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 }
  }

  /** Resolves the recorded passes into `encoder`; call before `finish`. */
  resolveInto(encoder: GPUCommandEncoder): void {
    if (this.used > 0) encoder.resolveQuerySet(this.querySet, 0, 2 * this.used, this.resolve, 0)
  }

  /** Durations (ms) of the recorded passes, then resets for reuse. */
  async read(readback: (buffer: GPUBuffer, bytes: number) => Promise<ArrayBuffer>): Promise<number[]> {
    const n = this.used
    this.used = 0
    if (n === 0) return []
    const ticks = new BigUint64Array(await readback(this.resolve, 16 * n))
    return Array.from({ length: n }, (_, i) => Number(ticks[2 * i + 1]! - ticks[2 * i]!) / 1e6)
  }

  destroy(): void {
    this.querySet.destroy()
    this.resolve.destroy()
  }
}
