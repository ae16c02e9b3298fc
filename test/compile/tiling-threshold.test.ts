/** Which matmuls get the tiled template: not thin or small ones (they cost seconds of LLVM and save little). */
import { expect, test } from "bun:test"
import { programOf } from "../../src/compile/compile.ts"
import { tilingThreshold } from "../../src/compile/tiling-threshold.ts"
import { matmul, type Tensor } from "../../src/ir/tensor.ts"

const tiledKernels = (a: number[], b: number[], tiling?: "auto" | "always") =>
  programOf(({ a: x, b: y }: Record<string, Tensor>) => matmul(x!, y!).silu(), { a, b }, { tiling }).kernels.filter((k) => k.tiled).length

test("a thin side (k = 3, n = 2) or a product under minMacs is a loop; 256×64×64 is tiled; tiling: \"always\" tiles all", () => {
  expect(tiledKernels([256, 3], [3, 64])).toBe(0)
  expect(tiledKernels([256, 64], [64, 2])).toBe(0)
  expect(tiledKernels([32, 32], [32, 32])).toBe(0) // 32 768 MACs < minMacs
  expect(256 * 64 * 64).toBeGreaterThanOrEqual(tilingThreshold.minMacs)
  expect(tiledKernels([256, 64], [64, 64])).toBe(1)
  expect(tiledKernels([256, 3], [3, 64], "always")).toBe(1)
  expect(tiledKernels([32, 32], [32, 32], "always")).toBe(1)
})
