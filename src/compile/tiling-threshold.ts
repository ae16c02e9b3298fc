import type { Node } from "../ir/node.ts"

/**
 * Below these a matmul is rendered as a plain loop, not the register-tiled template: a thin side
 * (k = 3 inputs, n = 2 outputs) leaves nothing to tile, and a small product saves less time at run
 * time than the template costs to compile (seconds per pipeline in lavapipe's LLVM, against tens of
 * milliseconds for the loop; bench/README.md has the measurements).
 */
export const tilingThreshold = { minSide: 8, minMacs: 1 << 18 } as const

/** Whether a product of `batch` m×k by k×n matrices gets the tiled template under "auto" tiling. */
export const worthTilingProduct = (batch: number, m: number, n: number, k: number): boolean =>
  Math.min(m, n, k) >= tilingThreshold.minSide && batch * m * n * k >= tilingThreshold.minMacs

/** The GEMM a contraction node is (batch count, m, n, k); a convolution as the implicit GEMM lower.ts builds. */
export const gemmSides = (u: Node): readonly [number, number, number, number] | undefined => {
  const [x, y] = u.inputs as [Node, Node]
  const [a, b, c] = [u.shape, x.shape, y.shape] as [number[], number[], number[]]
  switch (u.op.kind) {
    case "matmul": return [a.slice(0, -2).reduce((p, d) => p * d, 1), a.at(-2)!, a.at(-1)!, b.at(-1)!]
    case "conv2d": return [1, c[0]!, a[0]! * a[2]! * a[3]!, b[1]! * c[2]! * c[3]!]
    case "conv2dGradInput": return [1, a[1]!, a[0]! * a[2]! * a[3]!, b[1]! * c[2]! * c[3]!]
    case "conv2dGradWeight": return [1, c[1]!, a[1]! * a[2]! * a[3]!, c[0]! * c[2]! * c[3]!]
    default: return undefined
  }
}

/** A contraction whose sizes pass the tiling threshold: under "auto" tiling the tiled template computes it. */
export const worthTilingNode = (u: Node): boolean => {
  const sides = gemmSides(u)
  return sides !== undefined && worthTilingProduct(...sides)
}
