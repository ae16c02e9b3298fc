/**
 * How a failed command ends: its message on stderr (never a stack trace for an expected failure) and an
 * exit code a script can act on. Interruption (Ctrl-C, SIGTERM) is the runtime's: 130.
 */
import { Console, Data, Effect, Runtime } from "effect"

/** Exit codes of `sdeflow` (documented in docs/cli.md). */
export const exitCodes = {
  /** A run, evaluation or sampling failed (I/O, a diverged run, a device error other than "no adapter"). */
  failed: 1,
  /** Bad flags or configuration; also "no WebGPU adapter" (doctor and every device command). */
  usage: 2,
  /** --out holds no run or no loadable checkpoint (train --resume, eval, sample). */
  noCheckpoint: 3,
  /** Interrupted by Ctrl-C or SIGTERM (a checkpoint was written when training had progressed). */
  interrupted: 130,
} as const

/** A failure already explained on stderr; carries the process exit code. */
export class Exiting extends Data.TaggedError("Exiting")<{ readonly message: string; readonly code: number }> {
  get [Runtime.errorExitCode]() {
    return this.code
  }
  readonly [Runtime.errorReported] = false
}

/** Prints `error.message` on stderr and fails with `code`. */
export const exitWith =
  (code: number) =>
  (error: { readonly message: string }): Effect.Effect<never, Exiting> =>
    Console.error(error.message).pipe(Effect.andThen(Effect.fail(new Exiting({ message: error.message, code }))))
