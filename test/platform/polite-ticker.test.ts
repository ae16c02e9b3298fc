/**
 * The GPU wait must not busy-poll: bun-webgpu's own ticker calls Dawn's ProcessEvents back to back while
 * a promise waits, which on lavapipe takes a core from the kernels. With the polite ticker a wait polls
 * back to back only for its first few polls, then about once a millisecond or less often.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test"
import { compile, matmul, type Tensor } from "../../src/index.ts"
import { bunGpu } from "../../src/platform/bun.ts"
import { installPoliteTicker, nextPollDelay, pollSchedule } from "../../src/platform/polite-ticker.ts"
import { closeGpu, openGpu, type GpuHandle } from "../../src/runtime/gpu.ts"

setDefaultTimeout(120_000)

/** Polls a wait of `waitMs` makes under `delay`, on a machine where a poll costs `pollMs`. */
const pollsDuring = (waitMs: number, pollMs: number, delay: (waited: number, polls: number) => number): number => {
  let now = 0
  let polls = 0
  while (now < waitMs) {
    now += pollMs
    polls++
    now += delay(now, polls)
  }
  return polls
}

describe("the poll schedule", () => {
  test("spins for at most spinPolls polls, however fast a poll is", () => {
    const spun = (pollMs: number) => {
      let polls = 0
      while (nextPollDelay(polls * pollMs, polls) === 0) polls++
      return polls
    }
    expect(spun(0)).toBe(pollSchedule.spinPolls)
    expect(spun(0.001)).toBe(pollSchedule.spinPolls)
    expect(spun(0.1)).toBe(5) // a slow poll: the 0.5 ms spin ends first
  })

  test("a 100 ms wait polls under 100 times, where a poll every 50 µs would be 2 000", () => {
    for (const pollMs of [0, 0.002, 0.05]) {
      expect(pollsDuring(100, pollMs, nextPollDelay)).toBeLessThan(100)
      expect(pollsDuring(100, pollMs, nextPollDelay)).toBeGreaterThan(pollSchedule.spinPolls)
    }
    expect(pollsDuring(100, 0.002, () => 0.048)).toBeGreaterThan(1900)
  })

  test("the delay grows with the wait, within [minDelayMs, maxDelayMs]", () => {
    const delays = [1, 8, 16, 32, 64, 1000].map((w) => nextPollDelay(w, 1000))
    expect(delays).toEqual([1, 1, 1, 2, 4, 4])
  })
})

describe("on bun-webgpu", () => {
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

  test.if(polite)("a long GPU wait spins a few polls, then polls at most about once a millisecond", async () => {
    type Ticker = { processEvents(): void; register(): void; hasWaiting(): boolean }
    const ticker = (navigator.gpu as unknown as { _ticker: Ticker })._ticker
    const exe = await compile(({ a, b }: Record<string, Tensor>) => matmul(a!, b!), { a: [384, 384], b: [384, 384] }, { backend: gpu })
    const ones = new Float32Array(384 * 384).fill(1)
    exe.run({ a: ones, b: ones })
    await exe.read("out") // warm: pipelines built, buffers mapped once
    const { processEvents, register } = ticker
    let polls = 0
    let waits = 0
    ticker.processEvents = () => {
      polls++
      processEvents.call(ticker)
    }
    ticker.register = () => {
      if (!ticker.hasWaiting()) waits++
      register.call(ticker)
    }
    try {
      const started = performance.now()
      for (let r = 0; r < 3; r++) exe.run({ a: ones, b: ones })
      const out = await exe.read("out")
      const waited = performance.now() - started
      expect(out[0]).toBe(384)
      expect(waits).toBeGreaterThan(0)
      // Each wait spins at most spinPolls times; after that timers fire no more often than Bun's ~1 ms
      // granularity (the 1.5 allows for a timer that fires a little early). bun-webgpu's loop: ~20 per ms.
      expect(polls).toBeLessThanOrEqual(waits * (pollSchedule.spinPolls + 1) + 1.5 * waited)
    } finally {
      ticker.processEvents = processEvents
      ticker.register = register
      exe.destroy()
    }
  })
})
