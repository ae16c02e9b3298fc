/**
 * The shape of `bench/fusion.ts --json` output as an Effect Schema — the one source of truth:
 * the bench validates its results against it before writing, and `bench/results.schema.json` is
 * generated from it (`bun run bench/results.ts` rewrites the file; a test keeps the two equal).
 */
import { Schema } from "effect"

const NonNegative = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))
const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const Milliseconds = NonNegative.annotate({ description: "milliseconds" })

/** Where the numbers were taken. */
export const Machine = Schema.Struct({
  cpu: Schema.String,
  cores: Count.check(Schema.isGreaterThanOrEqualTo(1)),
  /** 1-minute load average when the run started and when it ended (other processes share the CPU). */
  loadStart: NonNegative,
  loadEnd: NonNegative,
  adapter: Schema.String.annotate({ description: "WebGPU adapter description" }),
  timestamps: Schema.Boolean.annotate({ description: "whether the adapter has timestamp-query (GPU kernel timing)" }),
  tiles: Schema.String.annotate({ description: "the contraction tile shapes chosen for this adapter (autotune.ts), which every matmul and convolution uses" }),
  bun: Schema.String,
  dawn: Schema.String,
  mesa: Schema.NullOr(Schema.String),
  date: Schema.String.annotate({ description: "ISO 8601 time the run started" }),
})
export type Machine = typeof Machine.Type

/** One kernel's median time, for finding hot spots. */
export const HotKernel = Schema.Struct({
  name: Schema.String,
  ms: Milliseconds,
  ops: Schema.Array(Schema.String),
})

/** One compilation of a workload (fused, or `fuse: false`). */
export const Variant = Schema.Struct({
  dispatches: Count,
  /** Distinct kernel texts (= pipelines): identical kernels share one. */
  kernels: Count,
  bytes: NonNegative.annotate({ description: "bytes read + written, from explain()" }),
  flops: NonNegative,
  compileMs: Milliseconds,
  ms: Milliseconds.annotate({ description: "median per run: sum of kernel GPU times, or wall clock (see timing)" }),
  wallMs: Milliseconds.annotate({ description: "median wall time from submit to results back on the host" }),
  reps: Count.check(Schema.isGreaterThanOrEqualTo(1)),
  gbPerS: NonNegative,
  gflopPerS: NonNegative,
  hot: Schema.Array(HotKernel),
})
export type Variant = typeof Variant.Type

/** A workload's outcome: measured, or why it was not (a mismatch or an error is never timed). */
export const WorkloadResult = Schema.Struct({
  id: Schema.String,
  title: Schema.String,
  size: Schema.String,
  bound: Schema.Literals(["memory", "compute"]),
  note: Schema.NullOr(Schema.String),
  status: Schema.Literals(["ok", "mismatch", "error"]),
  /** What went wrong when status is not ok. */
  error: Schema.NullOr(Schema.String),
  /** Largest relative (∞-norm) difference between fused and unfused outputs over all outputs. */
  maxRelativeError: Schema.NullOr(NonNegative),
  fused: Schema.NullOr(Variant),
  unfused: Schema.NullOr(Variant),
  /** PyTorch eager on the CPU, median ms; null when the peer was skipped or lacks the workload. */
  torchMs: Schema.NullOr(Milliseconds),
  /** Time ratio fused / unfused (< 1: fusion is faster). */
  fusedOverUnfused: Schema.NullOr(NonNegative),
  /** Time ratio sdeflow fused / PyTorch (< 1: sdeflow is faster). */
  sdeflowOverTorch: Schema.NullOr(NonNegative),
})
export type WorkloadResult = typeof WorkloadResult.Type

/** A target from the project issue, reported (never asserted). */
export const TargetCheck = Schema.Struct({
  name: Schema.String,
  target: Schema.String,
  measured: Schema.NullOr(Schema.Finite),
  met: Schema.NullOr(Schema.Boolean),
})
export type TargetCheck = typeof TargetCheck.Type

export const BenchResults = Schema.Struct({
  version: Schema.Literal(1),
  mode: Schema.Literals(["quick", "full", "device"]),
  timing: Schema.Literals(["gpu-timestamps", "wall-clock"]),
  machine: Machine,
  peer: Schema.Struct({
    status: Schema.Literals(["ran", "skipped"]),
    /** "python3-torch not installed", or the torch version and thread count. */
    detail: Schema.String,
  }),
  workloads: Schema.Array(WorkloadResult),
  targets: Schema.Array(TargetCheck),
  wallSeconds: NonNegative,
}).annotate({ title: "sdeflow kernel-fusion benchmark results", description: "Written by bun run bench/fusion.ts --json <file>" })
export type BenchResults = typeof BenchResults.Type

/** Decodes `value` as results, with one line per problem (all of them, not just the first). */
export const validateResults = (value: unknown): BenchResults =>
  Schema.decodeUnknownSync(BenchResults)(value, { errors: "all", onExcessProperty: "error" })

/** The JSON Schema (draft 2020-12) document checked in as bench/results.schema.json. */
export const resultsJsonSchema = (): Record<string, unknown> => {
  const doc = Schema.toJsonSchemaDocument(BenchResults, { onExcessProperty: "error" })
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    ...doc.schema,
    ...(Object.keys(doc.definitions).length > 0 ? { $defs: doc.definitions } : {}),
  }
}

if (import.meta.main) {
  const target = new URL("./results.schema.json", import.meta.url)
  await Bun.write(target, `${JSON.stringify(resultsJsonSchema(), null, 2)}\n`)
  console.log(`wrote ${target.pathname}`)
}
