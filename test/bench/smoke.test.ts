/** End to end: one small workload through the whole benchmark, JSON written and re-validated. */
import { expect, test, setDefaultTimeout } from "bun:test"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { runBench } from "../../bench/fusion.ts"
import { runPeer } from "../../bench/peer.ts"
import { validateResults } from "../../bench/results.ts"
import { workloadsFor } from "../../bench/workloads.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

test("the 1M-state EM step runs fused in 1 dispatch, agrees with the unfused program, and its JSON validates", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sdeflow-bench-"))
  try {
    const json = join(dir, "out.json")
    const results = await runBench({ mode: "quick", only: ["em-1m"], peer: false, json, repetitions: { warmup: 0, reps: 2, budgetMs: 1000 }, log: () => {} })
    const [em] = results.workloads
    expect(em!.status).toBe("ok")
    expect(em!.fused!.dispatches).toBe(1)
    expect(em!.unfused!.dispatches).toBeGreaterThan(5)
    expect(em!.maxRelativeError).toBeLessThanOrEqual(1e-4)
    expect(em!.fused!.ms).toBeGreaterThan(0)
    expect(results.peer).toEqual({ status: "skipped", detail: "disabled with --no-peer" })
    expect(validateResults(JSON.parse(readFileSync(json, "utf8")))).toEqual(results)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}, 20_000)

test("without python3 the peer is skipped with the reason, not an error", async () => {
  const report = await runPeer(workloadsFor("quick").slice(0, 1), { warmup: 0, reps: 1, budgetMs: 0 }, "/nonexistent/python3")
  expect(report.status).toBe("skipped")
  expect(report.detail).toContain("python3-torch not installed")
})

test("an unknown workload id is refused before any device is opened", async () => {
  await expect(runBench({ only: ["em-5m"], peer: false })).rejects.toThrow(/unknown workload em-5m/)
})
