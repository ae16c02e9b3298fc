/** What a training run reports, as a stream of typed events (rendered by a progress bar, JSON lines, tests). */

export type TrainEvent =
  | { readonly _tag: "Started"; readonly step: number; readonly totalSteps: number; readonly parameters: number; readonly resumedFrom?: string; readonly skipped: readonly string[] }
  /**
   * A program's pipelines compiling (the first run's wait): `done` of `total` distinct pipelines, `reused`
   * of them already built on this device. Sent at the start, as each pipeline finishes, and at the end.
   */
  | { readonly _tag: "Compiling"; readonly program: string; readonly done: number; readonly total: number; readonly reused: number; readonly seconds: number }
  | { readonly _tag: "Step"; readonly step: number; readonly loss: number; readonly gradNorm: number; readonly lr: number; readonly stepsPerSecond: number }
  | { readonly _tag: "Rejected"; readonly step: number; readonly loss: number; readonly rejectedSoFar: number }
  | { readonly _tag: "Evaluated"; readonly step: number; readonly bpd: number; readonly stderr: number; readonly samples: number }
  | { readonly _tag: "Sampled"; readonly step: number; readonly path: string }
  | { readonly _tag: "Checkpointed"; readonly step: number; readonly path: string }
  | { readonly _tag: "Finished"; readonly step: number; readonly seconds: number; readonly rejected: number }

/** Mean and standard error of a sample. */
export const meanAndStderr = (values: ArrayLike<number>): { mean: number; stderr: number } => {
  const n = values.length
  let mean = 0
  for (let i = 0; i < n; i++) mean += values[i]! / n
  let variance = 0
  for (let i = 0; i < n; i++) variance += (values[i]! - mean) ** 2 / Math.max(1, n - 1)
  return { mean, stderr: Math.sqrt(variance / n) }
}
