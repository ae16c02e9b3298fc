/** Device buffers: upload, readback and a size-bucketed pool so replayed programs allocate nothing. */
import { MapMode, Usage } from "./flags.ts"
import { scoped } from "./scopes.ts"

export const STORAGE = Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST

/** Byte sizes are rounded up to a power of two (≥ 256) so differently sized requests share buffers. */
export const bucketSize = (bytes: number): number => Math.max(256, 2 ** Math.ceil(Math.log2(Math.max(1, bytes))))

/** A storage buffer holding a copy of `data`. */
export const upload = (device: GPUDevice, data: ArrayBufferView, usage = STORAGE, label?: string): GPUBuffer => {
  const size = Math.max(4, Math.ceil(data.byteLength / 4) * 4)
  const buffer = device.createBuffer({ size, usage: usage | Usage.COPY_DST, label })
  device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength)
  return buffer
}

/** Copies `bytes` bytes of `buffer` (from `offset`) back to the host. */
export const readback = async (device: GPUDevice, buffer: GPUBuffer, bytes = buffer.size, offset = 0): Promise<ArrayBuffer> => {
  const size = Math.ceil(bytes / 4) * 4
  const staging = device.createBuffer({ size, usage: Usage.MAP_READ | Usage.COPY_DST })
  try {
    await scoped(device, "readback", () => {
      const encoder = device.createCommandEncoder()
      encoder.copyBufferToBuffer(buffer, offset, staging, 0, size)
      device.queue.submit([encoder.finish()])
    })
    await staging.mapAsync(MapMode.READ)
    return staging.getMappedRange().slice(0, bytes)
  } finally {
    staging.destroy()
  }
}

export const readFloat32 = async (device: GPUDevice, buffer: GPUBuffer, length: number): Promise<Float32Array> =>
  new Float32Array(await readback(device, buffer, length * 4))

/**
 * Buffers bucketed by (usage, power-of-two size). `acquire` reuses a released buffer when one fits;
 * `release` returns it. Nothing is destroyed until `destroy`, so steady-state replay allocates nothing.
 */
export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>()
  private readonly owned = new Set<GPUBuffer>()
  /** Bytes currently held on the device by this pool (in use or free). */
  bytes = 0
  /** Buffers created over the pool's life (for tests that assert reuse). */
  allocations = 0

  constructor(private readonly device: GPUDevice) {}

  acquire(bytes: number, usage: GPUBufferUsageFlags = STORAGE, label?: string): GPUBuffer {
    const size = bucketSize(bytes)
    const reused = this.free.get(`${usage}:${size}`)?.pop()
    if (reused) return reused
    const buffer = this.device.createBuffer({ size, usage, label })
    this.owned.add(buffer)
    this.bytes += size
    this.allocations++
    return buffer
  }

  release(buffer: GPUBuffer): void {
    if (!this.owned.has(buffer)) throw new Error("BufferPool.release: buffer was not acquired from this pool")
    const key = `${buffer.usage}:${buffer.size}`
    const list = this.free.get(key) ?? []
    if (list.includes(buffer)) throw new Error("BufferPool.release: buffer released twice")
    list.push(buffer)
    this.free.set(key, list)
  }

  /** Destroys every buffer the pool ever created. */
  destroy(): void {
    for (const b of this.owned) b.destroy()
    this.owned.clear()
    this.free.clear()
    this.bytes = 0
  }
}
