import { afterAll, beforeAll, expect, test, setDefaultTimeout } from "bun:test"
import { bunGpu } from "../../src/platform/bun.ts"
import { closeGpu, openGpu, type GpuHandle } from "../../src/runtime/gpu.ts"
import { tunedTiles } from "../../src/runtime/autotune.ts"

setDefaultTimeout(120_000)

let gpu: GpuHandle
beforeAll(async () => {
  gpu = await openGpu(bunGpu())
})
afterAll(() => closeGpu(gpu))

test("tile shapes are measured once per adapter and come from the candidates", async () => {
  const first = await tunedTiles(gpu)
  expect([4, 8]).toContain(first.matmulRows)
  expect([4, 8]).toContain(first.gemmRows)
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
