/**
 * Device-loss recovery around a training run. A WebGPU device can vanish mid-run (driver reset, GPU hang,
 * another process taking the adapter); `train` then fails with a `TrainFailed` caused by `DeviceLost`. This
 * wrapper opens a fresh device, waits on an exponential back-off capped at `maxDelay`, and starts `train` again
 * with the same output folder — which resumes from the newest valid checkpoint, so at most the steps since that
 * checkpoint are recomputed (identically: data and noise are functions of (seed, step)).
 */
import { Duration, Effect, Schedule, Stream } from "effect"
import { closeGpu, type GpuHandle } from "../../runtime/gpu.ts"
import type { TrainEvent } from "../../train/events.ts"
import { train, TrainFailed, type TrainOptions } from "./loop.ts"

/** How to get a device back, and how patiently. */
export interface DeviceRecovery {
  /** Opens a fresh device, e.g. `() => openGpu(bunGpu())`. Called once per attempt. */
  readonly acquire: () => Promise<GpuHandle>
  /** First wait after a loss (default 100 ms); each further consecutive loss doubles it. */
  readonly baseDelay?: Duration.Input
  /** The longest wait between attempts (default 10 s). */
  readonly maxDelay?: Duration.Input
  /** Device losses survived over the whole run before giving up (default 5). */
  readonly maxRecoveries?: number
}

/** Announced before each recovery: the loss that ended the previous attempt and which recovery this is. */
export interface DeviceLostEvent {
  readonly _tag: "DeviceLost"
  readonly recovery: number
  readonly message: string
}

export type ResilientEvent = TrainEvent | DeviceLostEvent

/** Whether a run failed because its device was lost (the failure `trainResilient` recovers from). */
export const isDeviceLoss = (error: TrainFailed): boolean => (error.cause as { _tag?: unknown } | undefined)?._tag === "DeviceLost"

/** The retry policy: exponential from `baseDelay`, each wait capped at `maxDelay`, only while `retryable` holds. */
export const recoverySchedule = (recovery: Pick<DeviceRecovery, "baseDelay" | "maxDelay">, retryable: (error: TrainFailed) => boolean) => {
  const cap = Duration.fromInputUnsafe(recovery.maxDelay ?? "10 seconds")
  return Schedule.exponential(recovery.baseDelay ?? "100 millis").pipe(
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, cap))),
    Schedule.setInputType<TrainFailed>(),
    Schedule.while(({ input }) => retryable(input)),
  )
}

/**
 * `train` on a device from `recovery.acquire`, restarted on a fresh device after each device loss (up to
 * `maxRecoveries`). Other failures — and a device that cannot be re-acquired once the budget is spent —
 * end the stream with the `TrainFailed`. Each attempt's device is closed when the attempt ends.
 */
export const trainResilient = (options: Omit<TrainOptions, "backend">, recovery: DeviceRecovery): Stream.Stream<ResilientEvent, TrainFailed> => {
  const maxRecoveries = recovery.maxRecoveries ?? 5
  let recoveries = 0
  // After a loss, failing to open the replacement device is part of the same outage, so it is retried too.
  let recovering = false
  // Set by the last failure's verdict; the schedule reads it (its own input is the same error).
  let retryNext = false
  const retryable = (error: TrainFailed) => (isDeviceLoss(error) || (recovering && error.cause instanceof AcquireFailed)) && recoveries < maxRecoveries

  const attempt: Stream.Stream<ResilientEvent, TrainFailed> = Stream.unwrap(
    Effect.acquireRelease(
      Effect.tryPromise({
        try: () => recovery.acquire(),
        catch: (cause) => new TrainFailed({ message: `could not open a WebGPU device: ${String(cause)}`, cause: new AcquireFailed(cause) }),
      }),
      // Destroying buffers of a device that is already gone is harmless but may throw in some bindings.
      (gpu) => Effect.sync(() => {
        try {
          closeGpu(gpu)
        } catch {}
      }),
    ).pipe(
      Effect.map((gpu) => {
        recovering = false
        return train({ ...options, backend: gpu }) as Stream.Stream<ResilientEvent, TrainFailed>
      }),
    ),
  ).pipe(
    Stream.catch((error: TrainFailed) => {
      retryNext = retryable(error)
      if (!retryNext) return Stream.fail(error)
      recoveries++
      recovering = true
      const event: DeviceLostEvent = { _tag: "DeviceLost", recovery: recoveries, message: error.message }
      // Announce, then fail again so that `retry` applies the back-off before the next attempt.
      return Stream.concat(Stream.make(event), Stream.fail(error))
    }),
  )
  return Stream.suspend(() => {
    recoveries = 0
    recovering = false
    return attempt.pipe(Stream.retry(recoverySchedule(recovery, () => retryNext)))
  })
}

/** Opening the replacement device failed (wraps whatever `acquire` threw). */
class AcquireFailed {
  readonly _tag = "AcquireFailed"
  constructor(readonly cause: unknown) {}
}
