import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { shardByCost, type PipelineRequest } from "../../src/runtime/pipelines.ts"

setDefaultTimeout(300_000)

const request = (fmas: number, label: string): PipelineRequest => ({ wgsl: `${"fma(a, b, c); ".repeat(fmas)}// ${label}`, bindings: ["read"], label })

describe("shardByCost", () => {
  test("every request lands in exactly one shard, and the costly ones are spread out", () => {
    const requests = [request(100, "a"), request(90, "b"), request(1, "c"), request(1, "d"), request(80, "e"), request(0, "f")]
    const shards = shardByCost(requests, 2)
    expect(shards.flat().map((r) => r.label).sort()).toEqual(["a", "b", "c", "d", "e", "f"])
    const cost = (s: PipelineRequest[]) => s.reduce((t, r) => t + 1 + (r.wgsl.match(/fma\(/g)?.length ?? 0), 0)
    expect(Math.abs(cost(shards[0]!) - cost(shards[1]!))).toBeLessThanOrEqual(101)
    expect(shards[0]!.map((r) => r.label)).toContain("a")
    expect(shards[1]!.map((r) => r.label)).toContain("b")
  })

  test("one shard takes everything", () => {
    expect(shardByCost([request(3, "x"), request(2, "y")], 1)[0]!.map((r) => r.label).sort()).toEqual(["x", "y"])
  })
})

describe("compile workers", () => {
  test("a cold program compiles with a worker process, reports its progress, and equals the oracle", () => {
    // In a child, so the empty shader cache and the worker count apply to that process alone.
    const cache = mkdtempSync(join(tmpdir(), "sdeflow-workers-test-"))
    const r = Bun.spawnSync([process.execPath, join(import.meta.dir, "../support/compile-workers-child.ts")], {
      env: { ...process.env, MESA_SHADER_CACHE_DIR: cache, SDEFLOW_COMPILE_WORKERS: "1" },
    })
    const out = r.stdout.toString()
    expect(r.exitCode).toBe(0)
    const report = JSON.parse(out.trim().split("\n").at(-1)!)
    expect(report.agree).toBe(true)
    expect(report.total).toBeGreaterThanOrEqual(6)
    // Progress counted up one by one, to the total (the worker's pipelines among them).
    expect(report.progress.at(-1)).toBe(report.total)
    expect(report.progress.length).toBeGreaterThanOrEqual(report.total)
  })
})
