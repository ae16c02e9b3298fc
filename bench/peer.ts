/**
 * The optional PyTorch peer: spawns bench/peer_pytorch.py under the Debian interpreter with the same
 * workloads (sizes as JSON on stdin) and reads its medians. Anything missing — python3, torch — makes it
 * "skipped" with the reason, never a failure of the benchmark.
 */
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Schema } from "effect"
import type { Repetitions } from "./measure.ts"
import type { Workload } from "./workloads.ts"

/** The interpreter that has python3-torch on Debian (a virtualenv's python would not). */
export const peerPython = "/usr/bin/python3"
const script = fileURLToPath(new URL("./peer_pytorch.py", import.meta.url))

const PeerOutput = Schema.Union([
  Schema.Struct({ available: Schema.Literal(false), reason: Schema.String }),
  Schema.Struct({
    available: Schema.Literal(true),
    torch: Schema.String,
    threads: Schema.Int,
    blas: Schema.String,
    results: Schema.Record(Schema.String, Schema.Union([Schema.Struct({ ms: Schema.Finite, reps: Schema.Int }), Schema.Struct({ error: Schema.String })])),
  }),
])

/** What the peer did: medians by workload id, or why it did not run. */
export type PeerReport =
  | { readonly status: "skipped"; readonly detail: string }
  | { readonly status: "ran"; readonly detail: string; readonly ms: ReadonlyMap<string, number>; readonly errors: ReadonlyMap<string, string> }

const skipped = (detail: string): PeerReport => ({ status: "skipped", detail })

/** Runs `python` with `stdin`; resolves with its stdout, or an Error carrying the tail of stderr. */
const runPython = (python: string, stdin: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const child = spawn(python, [script], { stdio: ["pipe", "pipe", "pipe"] })
    let out = ""
    let err = ""
    child.stdout.on("data", (d: Buffer) => (out += d.toString()))
    child.stderr.on("data", (d: Buffer) => (err += d.toString()))
    child.on("error", reject)
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${err.trim().split("\n").slice(-1)[0] ?? ""}`))))
    child.stdin.end(stdin)
  })

/** Runs the peer on `workloads` with the same repetition policy as sdeflow's timings. */
export const runPeer = async (workloads: readonly Workload[], reps: Repetitions, python = peerPython): Promise<PeerReport> => {
  if (!existsSync(python)) return skipped(`python3-torch not installed: no ${python}`)
  // At least one warm-up: sdeflow's agreement run warms its kernels, the peer has no such run.
  const tasks = workloads.map((w) => ({ id: w.id, ...w.peer, warmup: Math.max(1, reps.warmup), reps: reps.reps, budget_ms: reps.budgetMs }))
  let stdout: string
  try {
    stdout = await runPython(python, JSON.stringify(tasks))
  } catch (e) {
    return skipped(`the peer failed (${e instanceof Error ? e.message : String(e)})`)
  }
  const parsed = Schema.decodeUnknownResult(Schema.fromJsonString(PeerOutput))(stdout.trim().split("\n").at(-1) ?? "")
  if (parsed._tag === "Failure") return skipped(`the peer printed something unreadable: ${String(parsed.failure).split("\n")[0]}`)
  const report = parsed.success
  if (!report.available) return skipped(report.reason)
  const ms = new Map<string, number>()
  const errors = new Map<string, string>()
  for (const [id, r] of Object.entries(report.results)) "ms" in r ? ms.set(id, r.ms) : errors.set(id, r.error)
  return { status: "ran", detail: `PyTorch ${report.torch} eager, ${report.threads} threads, BLAS ${report.blas}`, ms, errors }
}
