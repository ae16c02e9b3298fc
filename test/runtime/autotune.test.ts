import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test"
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { TileShape } from "../../src/compile/tiled-matmul.ts"
import { bunGpu } from "../../src/platform/bun.ts"
import { closeGpu, openGpu, type GpuHandle } from "../../src/runtime/gpu.ts"
import { msPerRun, tunedTiles } from "../../src/runtime/autotune.ts"
import { compile } from "../../src/compile/compile.ts"

setDefaultTimeout(120_000)

let gpu: GpuHandle
beforeAll(async () => {
  gpu = await openGpu(bunGpu())
})
afterAll(() => closeGpu(gpu))

test("tile shapes are measured once per adapter and come from the candidates", async () => {
  const first = await tunedTiles(gpu)
  expect([4, 8, 16]).toContain(first.matmulRows)
  expect([4, 8, 16]).toContain(first.gemmRows)
  expect(typeof first.workgroupMemory).toBe("boolean")
  const again = await openGpu(bunGpu())
  try {
    const started = performance.now()
    expect(await tunedTiles(again)).toBe(first) // cached: the same object, no second measurement
    expect(performance.now() - started).toBeLessThan(50)
  } finally {
    closeGpu(again)
  }
})

describe("the on-disk cache of tile choices", () => {
  const cache = mkdtempSync(join(tmpdir(), "sdeflow-tiles-"))
  afterAll(() => rmSync(cache, { recursive: true, force: true }))
  const child = (env: Record<string, string> = {}): { tiles: TileShape; ms: number } => {
    const run = spawnSync(process.execPath, [join(import.meta.dir, "../support/autotune-child.ts")], { env: { ...process.env, SDEFLOW_CACHE: cache, ...env }, encoding: "utf8" })
    if (run.status !== 0) throw new Error(`child failed (${run.status}): ${run.stderr}`)
    return JSON.parse(run.stdout.trim().split("\n").at(-1)!)
  }
  const file = () => join(cache, "tiles.json")

  test("the first process measures and writes tiles.json; the next reads it without measuring", () => {
    const first = child()
    const written = JSON.parse(readFileSync(file(), "utf8"))
    expect(Object.values(written.adapters)).toEqual([first.tiles])
    const second = child()
    expect(second.tiles).toEqual(first.tiles)
    expect(second.ms).toBeLessThan(first.ms / 4)
  })

  test("a corrupt or implausible entry is measured again and the file rewritten", () => {
    writeFileSync(file(), "{ not json")
    const afterCorrupt = child()
    expect(JSON.parse(readFileSync(file(), "utf8")).adapters).toEqual(expect.any(Object))
    const current = JSON.parse(readFileSync(file(), "utf8"))
    const key = Object.keys(current.adapters)[0]!
    writeFileSync(file(), JSON.stringify({ ...current, adapters: { [key]: { matmulRows: 3, gemmRows: 8, workgroupMemory: false } } }))
    const afterBad = child()
    expect([4, 8, 16]).toContain(afterBad.tiles.matmulRows)
    expect(JSON.parse(readFileSync(file(), "utf8")).adapters[key]).toEqual(afterBad.tiles)
    expect([4, 8, 16]).toContain(afterCorrupt.tiles.gemmRows)
  })
})

test("a kernel too short for Dawn's 65.5 µs timestamp quantum is timed on the wall clock, not read as 0 or one quantum", async () => {
  using exe = await compile(({ x }) => x.add(1), { x: [256] }, { backend: gpu })
  exe.run({ x: new Float32Array(256) })
  const profiled = (await exe.profile({ x: exe.input("x") })).reduce((s, k) => s + k.ms, 0)
  expect(profiled % (2 ** 16 / 1e6)).toBeCloseTo(0, 9) // the readings are whole quanta
  const ms = await msPerRun(exe, { x: exe.input("x") }, "out")
  expect(ms).toBeGreaterThan(0)
  expect(ms % (2 ** 16 / 1e6)).not.toBeCloseTo(0, 9)
})
