/**
 * Load: 10 000 consecutive runs of one compiled executable and 1000 compile/destroy cycles on one device, with
 * process memory and device buffers measured at start and end. Replay must allocate nothing; destroying an
 * executable must hand its buffers back to the pool for the next compile; identical programs share pipelines.
 * Slow tier (`SDEFLOW_SLOW_TESTS=1`).
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { compile } from "../../src/compile/compile.ts"
import { normal, type Tensor } from "../../src/ir/tensor.ts"
import { useGpu } from "../support/backends.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const slow = process.env.SDEFLOW_SLOW_TESTS === "1"
const gpu = useGpu()

/** One Euler–Maruyama step of the forward VP SDE (an Ornstein–Uhlenbeck process: stays finite forever). */
const step = ({ x, t, dt }: { x: Tensor; t: Tensor; dt: Tensor }) => {
  const beta = t.mul(19.9).add(0.1)
  return x.sub(x.mul(beta.mul(0.5)).mul(dt)).add(normal(x.shape).mul(beta.mul(dt).sqrt()))
}
/** A program with a reduction and several kernels, so compile/destroy cycles exercise more than one buffer. */
const energy = ({ x, w }: { x: Tensor; w: Tensor }) => ({ out: x.matmul(w).tanh().square().sum(1).mean(), grad: x.matmul(w).sum(0) })

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1)
const snapshot = () => {
  Bun.gc(true)
  const g = gpu()
  return { rss: process.memoryUsage().rss, poolBytes: g.pool.bytes, allocations: g.pool.allocations, pipelines: g.pipelines.size, created: g.pipelines.created }
}

describe.skipIf(!slow)("load", () => {
  test("10 000 consecutive runs of a compiled executable: no new device buffers, bounded RSS, the state stays finite", async () => {
    const exe = await compile(step, { x: [1024, 2], t: [], dt: [] }, { backend: gpu() })
    let x: Float32Array | ReturnType<typeof exe.output> = new Float32Array(2048).fill(0.5)
    exe.run({ x, t: 1, dt: 1e-3 }, { seed: 1, step: 0 })
    await exe.read("out")
    const start = snapshot()
    for (let k = 1; k <= 10_000; k++) {
      // Ping-pong on the device: the output of run k is the input of run k + 1 (an input may not alias its output).
      x = (k % 2 === 0 ? exe.output("out") : await exe.read("out")) as typeof x
      exe.run({ x, t: (k % 1000) * 1e-3, dt: 1e-3 }, { seed: 1, step: k })
      if (k % 1000 === 0) await exe.check()
    }
    const last = await exe.read("out")
    const end = snapshot()
    exe.destroy()
    console.log(`10k runs: RSS ${mib(start.rss)} → ${mib(end.rss)} MiB; pool ${start.poolBytes} → ${end.poolBytes} bytes, ${start.allocations} → ${end.allocations} allocations`)
    expect(last.every(Number.isFinite)).toBe(true)
    expect(end.allocations).toBe(start.allocations)
    expect(end.poolBytes).toBe(start.poolBytes)
    expect(end.rss - start.rss).toBeLessThan(64 * 2 ** 20)
  }, 240_000)

  test("1000 compile/destroy cycles: the pool reuses every buffer, pipelines stay shared, RSS is bounded", async () => {
    const cycle = async (k: number) => {
      const exe = k % 2 === 0 ? await compile(step, { x: [1024, 2], t: [], dt: [] }, { backend: gpu() }) : await compile(energy, { x: [64, 16], w: [16, 8] }, { backend: gpu() })
      exe.run(k % 2 === 0 ? { x: new Float32Array(2048), t: 0.5, dt: 1e-3 } : { x: new Float32Array(1024).fill(0.1), w: new Float32Array(128).fill(0.2) }, { seed: k })
      const out = await exe.read("out")
      exe.destroy()
      return out
    }
    for (let k = 0; k < 4; k++) await cycle(k) // warm: both programs compiled, their buffers in the pool
    const start = snapshot()
    for (let k = 0; k < 1000; k++) expect((await cycle(k)).every(Number.isFinite)).toBe(true)
    const end = snapshot()
    console.log(
      `1000 compile/destroy: RSS ${mib(start.rss)} → ${mib(end.rss)} MiB; pool ${start.poolBytes} → ${end.poolBytes} bytes, ${start.allocations} → ${end.allocations} allocations; pipelines ${start.pipelines} → ${end.pipelines}`,
    )
    expect(end.allocations).toBe(start.allocations)
    expect(end.poolBytes).toBe(start.poolBytes)
    expect(end.pipelines).toBe(start.pipelines)
    expect(end.created).toBe(start.created)
    expect(end.rss - start.rss).toBeLessThan(64 * 2 ** 20)
  }, 240_000)
})
