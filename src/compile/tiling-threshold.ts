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
