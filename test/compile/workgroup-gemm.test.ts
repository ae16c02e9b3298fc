import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test"
import { compile, conv2d, grad, type Tensor } from "../../src/index.ts"
import { closeGpu, openGpu, type GpuHandle } from "../../src/runtime/gpu.ts"
import { bunGpu } from "../../src/platform/bun.ts"
import { programOf } from "../../src/compile/compile.ts"
import { renderWgsl } from "../../src/compile/wgsl.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

let gpu: GpuHandle
beforeAll(async () => {
  gpu = await openGpu(bunGpu())
})
afterAll(() => closeGpu(gpu))

const seeded = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.1 + i * 1.37) * 0.8)

/** A conv layer and both of its gradients (three implicit GEMMs with K ≥ 64). */
const convAndGrads = ({ x, w, g }: { x: Tensor; w: Tensor; g: Tensor }) => {
  const y = conv2d(x, w, { stride: 2, padding: 1 })
  const [gx, gw] = grad(y.mul(g).sum(), [x, w])
  return { y, gx: gx!, gw: gw! }
}

describe("convolutions staged through workgroup memory (the GPU form)", () => {
  test("renders workgroup staging only when asked, and only for K ≥ 64", () => {
    const program = programOf(convAndGrads, { x: [2, 8, 9, 7], w: [5, 8, 3, 3], g: [2, 5, 5, 4] }, { tiling: "always" })
    const gemms = program.kernels.filter((k) => k.tiled?.gemm)
    expect(gemms.length).toBe(3)
    for (const k of gemms) {
      expect(renderWgsl(program, k, { workgroupMemory: true }).includes("var<workgroup>")).toBe(k.tiled!.gemm!.k >= 64)
      expect(renderWgsl(program, k)).not.toContain("var<workgroup>")
    }
  })

  test("equal the CPU oracle on odd sizes with edge tiles (stride 2, padding 1)", async () => {
    const specs = { x: [2, 8, 9, 7], w: [5, 8, 3, 3], g: [2, 5, 5, 4] }
    const inputs = { x: seeded(2 * 8 * 9 * 7, 1), w: seeded(5 * 8 * 9, 2), g: seeded(2 * 5 * 5 * 4, 3) }
    const onGpu = await compile(convAndGrads, specs, { backend: gpu, workgroupMemory: true })
    const onCpu = await compile(convAndGrads, specs, { backend: "cpu" })
    onGpu.poison()
    onGpu.run(inputs)
    onCpu.run(inputs)
    await onGpu.check()
    for (const name of ["y", "gx", "gw"]) {
      const [a, b] = [await onGpu.read(name), await onCpu.read(name)]
      const scale = Math.max(...Array.from(b, Math.abs))
      for (let i = 0; i < b.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-4 * scale + 1e-6)
    }
  })
})
