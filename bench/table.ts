/** The benchmark's results as text a person reads in a terminal or pastes into bench/README.md. */
import type { BenchResults, Variant, WorkloadResult } from "./results.ts"

/** Three significant digits, without exponent notation for the usual range. */
export const significant = (x: number): string => {
  if (!Number.isFinite(x)) return "—"
  if (x === 0) return "0"
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(x))))
  return x.toFixed(Math.min(digits, 4))
}

const opt = (x: number | null | undefined, suffix = ""): string => (x === null || x === undefined ? "—" : `${significant(x)}${suffix}`)

/** GB/s for streaming programs, GFLOP/s for contractions: the throughput the workload is bound by. */
const throughput = (bound: WorkloadResult["bound"], v: Variant | null): string =>
  v === null ? "—" : bound === "memory" ? `${significant(v.gbPerS)} GB/s` : `${significant(v.gflopPerS)} GFLOP/s`

const header = ["workload", "dispatches f/u", "fused ms", "unfused ms", "fused/unfused", "fused throughput", "torch ms", "sdeflow/torch"]

const row = (r: WorkloadResult): string[] =>
  r.status !== "ok"
    ? [r.id, `${r.status.toUpperCase()}: ${r.error ?? ""}`]
    : [
        r.id,
        `${r.fused!.dispatches}/${r.unfused!.dispatches}`,
        significant(r.fused!.ms),
        significant(r.unfused!.ms),
        opt(r.fusedOverUnfused),
        throughput(r.bound, r.fused),
        opt(r.torchMs),
        opt(r.sdeflowOverTorch),
      ]

/** A Markdown table (also readable as plain text): one row per workload. */
export const formatTable = (workloads: readonly WorkloadResult[]): string => {
  const rows = workloads.map(row)
  const widths = header.map((h, i) => Math.max(h.length, ...rows.filter((r) => r.length === header.length).map((r) => r[i]!.length)))
  const line = (cells: readonly string[]) =>
    cells.length === header.length ? `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |` : `| ${cells.join(" | ")} |`
  return [line(header), `|${widths.map((w, i) => (i === 0 ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`, ...rows.map(line)].join("\n")
}

/** What each row id means: title, sizes, caveats and the worst fused/unfused disagreement. */
export const formatLegend = (workloads: readonly WorkloadResult[]): string =>
  workloads
    .map((r) => `- ${r.id}: ${r.title}; ${r.size}${r.note ? ` (${r.note})` : ""}${r.maxRelativeError !== null ? `; fused vs unfused max rel. diff ${r.maxRelativeError.toExponential(1)}` : ""}`)
    .join("\n")

/** The slowest kernels of each fused program: where the compiler should look next. */
export const formatHotSpots = (workloads: readonly WorkloadResult[]): string =>
  workloads
    .filter((r) => r.fused && r.fused.hot.length > 0)
    .map((r) => `- ${r.id}: ${r.fused!.hot.map((k) => `${k.name} ${significant(k.ms)} ms [${k.ops.join(", ")}]`).join("; ")}`)
    .join("\n")

/** Everything the bench prints after the run: machine, table, legend, targets, hot spots. */
export const formatReport = (results: BenchResults): string => {
  const m = results.machine
  return [
    `machine   ${m.cpu}, ${m.cores} cores, load average ${m.loadStart} at start, ${m.loadEnd} at end`,
    `adapter   ${m.adapter}${m.timestamps ? " (timestamp-query)" : ""}`,
    `tiles     ${m.tiles} (the adapter's autotuned choice; see bench/README.md)`,
    `versions  Bun ${m.bun}, ${m.dawn}, Mesa ${m.mesa ?? "n/a (not a Mesa driver)"}`,
    `date      ${m.date}`,
    `mode      ${results.mode}; times are ${results.timing === "gpu-timestamps" ? "sums of per-kernel GPU timestamps" : "wall clock around run + read"}, medians`,
    `PyTorch peer: ${results.peer.status === "ran" ? results.peer.detail : `skipped (${results.peer.detail})`}`,
    "",
    formatTable(results.workloads),
    "",
    formatLegend(results.workloads),
    "",
    "Targets (from the project issue; reported, not asserted):",
    ...results.targets.map((t) => `- ${t.name}: ${opt(t.measured)} (target ${t.target}) ${t.met === null ? "not measured" : t.met ? "met" : "NOT met"}`),
    "",
    "Hot kernels (fused, median ms):",
    formatHotSpots(results.workloads),
    "",
    `wall time ${results.wallSeconds.toFixed(1)} s`,
  ].join("\n")
}
