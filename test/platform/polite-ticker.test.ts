/**
 * The GPU wait must not busy-poll: bun-webgpu's own ticker calls Dawn's ProcessEvents back to back while
 * a promise waits, which on lavapipe takes a core from the kernels. With the polite ticker a wait polls
 * back to back only for its first 0.5 ms, then about once a millisecond.
 */
import { afterAll, beforeAll, expect, test, setDefaultTimeout } from "bun:test"
import { compile, matmul, type Tensor } from "../../src/index.ts"
import { bunGpu } from "../../src/platform/bun.ts"
import { installPoliteTicker } from "../../src/platform/polite-ticker.ts"
import { closeGpu, openGpu, type GpuHandle } from "../../src/runtime/gpu.ts"

setDefaultTimeout(120_000)

let gpu: GpuHandle
beforeAll(async () => {
  gpu = await openGpu(bunGpu())
})
afterAll(() => closeGpu(gpu))

const polite = process.env.SDEFLOW_GPU_POLL !== "spin"

test.if(polite)("bun-webgpu's ticker is the shape the patch expects (a version bump that changes it fails here)", () => {
  const ticker = (navigator.gpu as unknown as { _ticker?: { scheduleTick?: { toString(): string } } })._ticker
  expect(ticker?.scheduleTick?.toString()).not.toContain("_accTime") // ours, not bun-webgpu's
  expect(installPoliteTicker({} as GPU)).toBe(false)
})

test.if(polite)("a long GPU wait polls Dawn about once a millisecond, not every 50 µs", async () => {
  const ticker = (navigator.gpu as unknown as { _ticker: { processEvents(): void } })._ticker
  const exe = await compile(({ a, b }: Record<string, Tensor>) => matmul(a!, b!), { a: [384, 384], b: [384, 384] }, { backend: gpu })
  const ones = new Float32Array(384 * 384).fill(1)
  exe.run({ a: ones, b: ones })
  await exe.read("out") // warm: pipelines built, buffers mapped once
  const original = ticker.processEvents.bind(ticker)
  let polls = 0
  ticker.processEvents = () => {
    polls++
    original()
  }
  try {
    const started = performance.now()
    for (let r = 0; r < 3; r++) exe.run({ a: ones, b: ones })
    const out = await exe.read("out")
    const waited = performance.now() - started
    expect(out[0]).toBe(384)
    // Back-to-back polling would call ProcessEvents every few microseconds of the wait.
    // The first 0.5 ms of each wait polls back to back (up to ~150 polls in all here); after that the
    // timers poll at most every ~1 ms. bun-webgpu's own loop polls every 50 µs: ~20 per ms waited.
    expect(polls).toBeLessThan(150 + waited)
  } finally {
    ticker.processEvents = original
    exe.destroy()
  }
})
