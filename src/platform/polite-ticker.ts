/**
 * bun-webgpu learns that GPU work finished (a readback mapped, the queue drained, an error scope popped)
 * by polling Dawn from `setImmediate` for as long as anything awaits the GPU: a busy loop. On a
 * CPU adapter that loop takes a whole core from lavapipe's worker threads — on two cores the kernels
 * got about half the machine. This replaces the poll schedule of bun-webgpu's instance ticker: poll
 * at once for the first moments of a wait (short waits keep their latency), then back off to timers
 * whose period grows with the wait (~6% of the time waited, between `minDelayMs` and `maxDelayMs`).
 */

/** The part of bun-webgpu's (private) InstanceTicker this relies on; checked before patching. */
interface InstanceTicker {
  _ticking: boolean
  hasWaiting(): boolean
  processEvents(): void
  register(): void
  scheduleTick(): void
}

/**
 * A wait polls back to back while it is younger than `spinMs` and has polled fewer than `spinPolls`
 * times. Both bounds matter: time alone lets a fast machine poll hundreds of times in the spin.
 */
export const pollSchedule = { spinMs: 0.5, spinPolls: 32, minDelayMs: 1, maxDelayMs: 4 } as const

/**
 * When to poll next, in ms from now, for a wait `waitedMs` old that has polled `polls` times:
 * 0 means at once (`setImmediate`). The floor is Bun's timer granularity: a shorter timeout fires
 * after about a millisecond anyway. Pure, so the schedule is tested without a clock.
 */
export const nextPollDelay = (waitedMs: number, polls: number): number => {
  const { spinMs, spinPolls, minDelayMs, maxDelayMs } = pollSchedule
  if (waitedMs < spinMs && polls < spinPolls) return 0
  return Math.min(maxDelayMs, Math.max(minDelayMs, waitedMs / 16))
}

const isTicker = (x: unknown): x is InstanceTicker => {
  const t = x as Partial<InstanceTicker> | null
  return typeof t === "object" && t !== null && typeof t.hasWaiting === "function" && typeof t.processEvents === "function" && typeof t.register === "function" && typeof t.scheduleTick === "function"
}

/** Installs the backing-off poll on `gpu` (bun-webgpu's GPU object); false when its internals differ. */
export const installPoliteTicker = (gpu: GPU): boolean => {
  const ticker = (gpu as unknown as { _ticker?: unknown })._ticker
  if (!isTicker(ticker)) return false
  const register = ticker.register.bind(ticker)
  let waitStarted = 0
  let polls = 0
  ticker.register = () => {
    if (!ticker.hasWaiting()) {
      waitStarted = performance.now()
      polls = 0
    }
    register()
  }
  ticker.scheduleTick = () => {
    if (ticker._ticking) return
    ticker._ticking = true
    const tick = () => {
      polls++
      ticker.processEvents()
      ticker._ticking = false
      if (ticker.hasWaiting()) ticker.scheduleTick()
    }
    const delay = nextPollDelay(performance.now() - waitStarted, polls)
    if (delay === 0) setImmediate(tick)
    else setTimeout(tick, delay)
  }
  return true
}
