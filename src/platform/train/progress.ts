/** Renders training events for a person: a one-line progress bar on a terminal, plain lines otherwise. */
import type { TrainEvent } from "../../train/events.ts"

const clock = (seconds: number): string => {
  if (!Number.isFinite(seconds)) return "--:--"
  const s = Math.round(seconds)
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`
}

/** A printer keeping the latest bpd for the bar; `tty` decides between redraws and log lines. */
export const progressPrinter = (options: { tty?: boolean; write?: (text: string) => void; every?: number } = {}) => {
  const tty = options.tty ?? Boolean(process.stdout.isTTY)
  const write = options.write ?? ((text: string) => process.stdout.write(text))
  const every = options.every ?? 25
  let total = 0
  let bpd = ""
  let lastCompileLine = -Infinity
  let barShown = false
  const line = (text: string) => {
    if (barShown) write("\n")
    barShown = false
    write(text + "\n")
  }
  return (event: TrainEvent): void => {
    switch (event._tag) {
      case "Started":
        total = event.totalSteps
        line(`training ${event.parameters.toLocaleString("en")} parameters for ${total} steps` + (event.resumedFrom ? `, resumed at step ${event.step} from ${event.resumedFrom}` : "") + (event.skipped.length ? ` (skipped corrupt: ${event.skipped.join(", ")})` : ""))
        return
      case "Compiling": {
        const text = `compiling the ${event.program} program: ${event.done}/${event.total} pipelines${event.reused ? ` (${event.reused} already built)` : ""}, ${clock(event.seconds)}`
        const finished = event.done === event.total
        if (tty) {
          write(`\r${text}\x1b[K`)
          barShown = !finished
          if (finished) write("\n")
        } else if (event.done === event.reused || finished || event.seconds - lastCompileLine >= 15) {
          // Log lines at the start, every 15 s and at the end: enough to see it move, not a flood.
          lastCompileLine = event.seconds
          line(text)
        }
        return
      }
      case "Step": {
        const eta = (total - event.step) / event.stepsPerSecond
        const width = 24
        const filled = Math.round((event.step / Math.max(1, total)) * width)
        const bar = `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${event.step}/${total} loss ${event.loss.toFixed(4)}${bpd} ${event.stepsPerSecond.toFixed(2)} it/s ETA ${clock(eta)}`
        if (tty) {
          write(`\r${bar}\x1b[K`)
          barShown = true
        } else if (event.step % every === 0 || event.step === total) line(bar)
        return
      }
      case "Rejected":
        line(`step ${event.step}: non-finite loss (${event.loss}) — step rejected, previous state kept (${event.rejectedSoFar} so far)`)
        return
      case "Evaluated":
        bpd = ` bpd ${event.bpd.toFixed(3)}`
        line(`step ${event.step}: test bits/dim ${event.bpd.toFixed(4)} ± ${event.stderr.toFixed(4)} (${event.samples} samples, ELBO)`)
        return
      case "Sampled":
        line(`step ${event.step}: samples written to ${event.path}`)
        return
      case "Checkpointed":
        line(`step ${event.step}: checkpoint ${event.path}`)
        return
      case "Finished":
        line(`finished ${event.step} steps in ${clock(event.seconds)}${event.rejected ? `, ${event.rejected} steps rejected` : ""}`)
        return
    }
  }
}
