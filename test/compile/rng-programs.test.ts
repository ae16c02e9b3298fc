/**
 * Random nodes inside compiled programs: reproducible across backends and fusion decisions,
 * independent across steps, seeds and nodes, and distributed as promised.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { compile } from "../../src/compile/compile.ts"
import { normalTolerance } from "../../src/compile/rng.ts"
import { concat, normal, rademacher, uniform, where, type Tensor } from "../../src/ir/tensor.ts"
import { inputsFor, runOnce, useGpu, type HostResult } from "../support/backends.ts"
import { correlation } from "../support/correlation.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const gpu = useGpu()
/** Random-number kernels take lavapipe a while to build. */
const SLOW = 30_000

const bits = (a: HostResult): number[] => Array.from(new Uint32Array(new Float32Array(a).buffer))


const n = 4096
const draws = () => ({ u: uniform([n]), r: rademacher([n]), z: normal([n]) })

describe("reproducibility", () => {
  test("the same seed and step give identical uniform and Rademacher bits on both backends, normals within normalTolerance", async () => {
    for (const run of [{ seed: 0, step: 0 }, { seed: 1234567, step: 99 }, { seed: 0xffffffff, step: 0xfffffffe }]) {
      const onGpu = await runOnce(gpu(), draws, {}, {}, run)
      const onCpu = await runOnce("cpu", draws, {}, {}, { ...run, precision: "f32" })
      expect(bits(onGpu.u!)).toEqual(bits(onCpu.u!))
      expect(bits(onGpu.r!)).toEqual(bits(onCpu.r!))
      let worst = 0
      onGpu.z!.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - onCpu.z![i]!))))
      expect(worst).toBeLessThanOrEqual(normalTolerance)
    }
  }, SLOW)

  test("sub-step draws: element (i, e) of normal([B, n], { substeps: B }) at step k is element e of normal([n]) at step k·B + i, on both backends (step words wrap like u32)", async () => {
    const B = 4
    for (const step of [0, 5, 0x7fffffff]) {
      const blocked = () => ({ u: uniform([B, 257], { substeps: B }), z: normal([B, 257], { substeps: B }) })
      const onGpu = await runOnce(gpu(), blocked, {}, {}, { seed: 3, step })
      const onCpu = await runOnce("cpu", blocked, {}, {}, { seed: 3, step, precision: "f32" })
      expect(bits(onGpu.u!)).toEqual(bits(onCpu.u!))
      for (let i = 0; i < B; i++) {
        const single = await runOnce("cpu", () => ({ u: uniform([257]), z: normal([257]) }), {}, {}, { seed: 3, step: (step * B + i) % 2 ** 32, precision: "f32" })
        expect(bits(onCpu.u!.slice(i * 257, (i + 1) * 257))).toEqual(bits(single.u!))
        expect(bits(onCpu.z!.slice(i * 257, (i + 1) * 257))).toEqual(bits(single.z!))
      }
      let worst = 0
      onGpu.z!.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - onCpu.z![i]!))))
      expect(worst).toBeLessThanOrEqual(normalTolerance)
    }
  }, SLOW)

  test("blocks of four elements: a size with a remainder, a draw at a broadcast index, and draws written at odd concat offsets agree with the oracle", async () => {
    const odd = 4097
    const program = ({ x, y }: Record<string, Tensor>) => ({
      remainder: x!.add(normal([odd])).mul(uniform([odd])),
      broadcast: normal([7, 1]).mul(y!).add(rademacher([7, 33])),
      concatenated: concat([normal([5]), uniform([6]).add(1), normal([9])]).mul(2),
    })
    const specs = { x: [odd], y: [7, 33] }
    const values = { x: Float32Array.from({ length: odd }, (_, i) => Math.sin(i)), y: Float32Array.from({ length: 7 * 33 }, (_, i) => Math.cos(i)) }
    const onGpu = await runOnce(gpu(), program, specs, values, { seed: 11, step: 3 })
    const onCpu = await runOnce("cpu", program, specs, values, { seed: 11, step: 3, precision: "f32" })
    for (const name of ["remainder", "broadcast", "concatenated"]) {
      expect(onGpu[name]!.length).toBe(onCpu[name]!.length)
      let worst = 0
      onGpu[name]!.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - onCpu[name]![i]!))))
      // Written as !(≤) so that a poisoned (unwritten) element, NaN, fails.
      if (!(worst <= 4 * normalTolerance)) throw new Error(`${name}: GPU and oracle differ by ${worst}`)
    }
  }, SLOW)

  test("compiling the same program twice gives the same noise (salts follow creation order)", async () => {
    const [a, b] = [await runOnce(gpu(), draws, {}, {}, { seed: 5 }), await runOnce(gpu(), draws, {}, {}, { seed: 5 })]
    expect(bits(a.z!)).toEqual(bits(b.z!))
  }, SLOW)

  test("noise does not depend on fusion: fused and unfused programs give identical bits", async () => {
    const specs = { x: [16, 8] }
    const fn = ({ x }: { x: Tensor }) => ({
      chosen: where(x.gt(0), normal([16, 8]), uniform([16, 8]).neg()),
      transposed: normal([8, 16]).transpose().maximum(x),
      signs: rademacher([16, 1]).broadcastTo([16, 8]).mul(x.gt(5).cast("f32").add(1)),
    })
    const inputs = inputsFor(specs, 3)
    for (const backend of [gpu(), "cpu"] as const) {
      const fused = await runOnce(backend, fn, specs, inputs, { seed: 8, step: 2, precision: "f32" })
      const unfused = await runOnce(backend, fn, specs, inputs, { seed: 8, step: 2, precision: "f32", fuse: false })
      for (const name of ["chosen", "transposed", "signs"]) expect(bits(unfused[name]!)).toEqual(bits(fused[name]!))
    }
  }, SLOW)
})

describe("independence", () => {
  const bound = 4 / Math.sqrt(n) // 4 standard errors of a correlation estimate
  test("different steps, different seeds and different nodes are uncorrelated", async () => {
    const exe = await compile(() => ({ z: normal([n]), w: normal([n]), u: uniform([n]) }), {}, { backend: gpu() })
    try {
      const at = async (seed: number, step: number) => {
        exe.run({}, { seed, step })
        return { z: await exe.read("z"), w: await exe.read("w"), u: await exe.read("u") }
      }
      const base = await at(1, 0)
      const nextStep = await at(1, 1)
      const otherSeed = await at(2, 0)
      await exe.check()
      expect(bits(nextStep.z)).not.toEqual(bits(base.z))
      for (const [a, b] of [[base.z, nextStep.z], [base.z, otherSeed.z], [base.z, base.w], [base.u, nextStep.u], [base.z, base.u]] as const)
        expect(Math.abs(correlation(a, b))).toBeLessThan(bound)
      // Neighbouring elements of one draw are uncorrelated too (lag-1 autocorrelation).
      expect(Math.abs(correlation(base.z.subarray(1), base.z.subarray(0, n - 1)))).toBeLessThan(bound)
    } finally {
      exe.destroy()
    }
  }, SLOW)
})

describe("distributions", () => {
  test("2^20 normals drawn and reduced in-program have mean 0, variance 1, kurtosis 3 and Gaussian tails", async () => {
    const samples = 1 << 20
    const moments = () => {
      const z = normal([1024, 1024])
      // Two-level means keep each thread's loop short and the f32 sums accurate.
      const mean = (t: Tensor) => t.mean(1).mean()
      return { m1: mean(z), m2: mean(z.square()), m4: mean(z.square().square()), tail: mean(z.abs().gt(3).cast("f32")) }
    }
    const out = await runOnce(gpu(), moments, {}, {}, { seed: 2024, step: 7 })
    const [m1, m2, m4, tail] = [out.m1![0]!, out.m2![0]!, out.m4![0]!, out.tail![0]!]
    // 5 standard errors each: sd(m1) = 1/√N, sd(m2) = √(2/N), sd(m4) = √(96/N), sd(tail) = √(p(1−p)/N).
    expect(Math.abs(m1)).toBeLessThan(5 / Math.sqrt(samples))
    expect(Math.abs(m2 - 1)).toBeLessThan(5 * Math.sqrt(2 / samples))
    expect(Math.abs(m4 - 3)).toBeLessThan(5 * Math.sqrt(96 / samples))
    const p = 0.0026997960632601866 // P(|Z| > 3)
    expect(Math.abs(tail - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / samples))
  }, SLOW)

  test("uniforms pass a 64-bin chi-square test and never hit 0 or 1; Rademacher signs are ±1 and balanced", async () => {
    const count = 1 << 16
    const out = await runOnce(gpu(), () => ({ u: uniform([count]), r: rademacher([count]) }), {}, {}, { seed: 77, step: 3 })
    const bins = new Array<number>(64).fill(0)
    let outside = 0
    for (const v of out.u!) {
      if (!(v > 0 && v < 1)) outside++
      else bins[Math.floor(v * 64)]!++
    }
    expect(outside).toBe(0)
    const expected = count / 64
    const chi2 = bins.reduce((s, o) => s + (o - expected) ** 2 / expected, 0)
    // 63 degrees of freedom: mean 63, sd 11.2; 110 is the 99.98th percentile.
    expect(chi2).toBeLessThan(110)
    expect(chi2).toBeGreaterThan(25) // too uniform would be suspicious too (0.02nd percentile ≈ 27)
    expect(new Set(out.r!).size).toBe(2)
    expect(Math.abs(Array.from(out.r!).reduce((s, v) => s + v, 0))).toBeLessThan(5 * Math.sqrt(count))
  }, SLOW)
})
