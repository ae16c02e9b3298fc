/** `explain`: what a compiled program does — kernels, fused ops, dispatches, bytes moved, FLOPs. */
import type { Program } from "./program.ts"
import { renderProgramWgsl } from "./wgsl.ts"

export interface KernelReport {
  readonly name: string
  readonly ops: readonly string[]
  readonly threads: number
  readonly bytesRead: number
  readonly bytesWritten: number
  readonly flops: number
}

export interface Explanation {
  readonly kernels: readonly KernelReport[]
  readonly dispatches: number
  /** Distinct WGSL texts (compiled pipelines): kernels of one form share one (lift-constants.ts). */
  readonly pipelines: number
  readonly bytesRead: number
  readonly bytesWritten: number
  readonly flops: number
  /** Device memory the program's buffers occupy. */
  readonly bufferBytes: number
}

export const explain = (source: Program | { readonly program: Program; readonly pipelines?: number }): Explanation => {
  const program = "program" in source ? source.program : source
  // An executable knows what it compiled; a bare program is rendered with the default options.
  const pipelines = "program" in source && source.pipelines !== undefined ? source.pipelines : new Set(renderProgramWgsl(program).map((k) => k.wgsl)).size
  const kernels = program.kernels.map(({ name, ops, threads, bytesRead, bytesWritten, flops }) => ({ name, ops, threads, bytesRead, bytesWritten, flops }))
  const total = (key: "bytesRead" | "bytesWritten" | "flops") => kernels.reduce((s, k) => s + k[key], 0)
  return {
    kernels,
    dispatches: kernels.length,
    pipelines,
    bytesRead: total("bytesRead"),
    bytesWritten: total("bytesWritten"),
    flops: total("flops"),
    bufferBytes: program.slots.reduce((s, slot) => s + slot.bytes, 0),
  }
}

const human = (n: number, unit: string): string => {
  const scales: [number, string][] = [[1e9, "G"], [1e6, "M"], [1e3, "k"]]
  const [scale, prefix] = scales.find(([s]) => n >= s) ?? [1, ""]
  return `${(n / scale).toFixed(n >= 1e3 ? 2 : 0)} ${prefix}${unit}`
}

/** A table a person can read: one line per kernel, then totals. */
export const formatExplanation = (e: Explanation): string =>
  [
    ...e.kernels.map((k) => `${k.name.padEnd(20)} ${human(k.threads, "thr").padStart(11)} ${human(k.bytesRead + k.bytesWritten, "B").padStart(10)} ${human(k.flops, "FLOP").padStart(12)}  [${k.ops.join(", ")}]`),
    `${e.dispatches} dispatches (${e.pipelines} pipelines), ${human(e.bytesRead + e.bytesWritten, "B")} moved, ${human(e.flops, "FLOP")}, buffers ${human(e.bufferBytes, "B")}`,
  ].join("\n")
