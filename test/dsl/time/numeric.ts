/** Independent numerical oracles for the time-expression tests: adaptive Simpson, a seeded RNG, KS. */
import { seededWords } from "../../support/seeded.ts"

/** ∫_a^b f by adaptive Simpson to absolute tolerance `tol` (an oracle independent of the library's Gauss–Legendre). */
export function simpson(f: (x: number) => number, a: number, b: number, tol = 1e-10): number {
  const rule = (x0: number, x1: number, f0: number, fm: number, f1: number) => ((x1 - x0) / 6) * (f0 + 4 * fm + f1)
  const recurse = (x0: number, x1: number, f0: number, fm: number, f1: number, whole: number, eps: number, depth: number): number => {
    const m = 0.5 * (x0 + x1)
    const lm = f(0.5 * (x0 + m))
    const rm = f(0.5 * (m + x1))
    const left = rule(x0, m, f0, lm, fm)
    const right = rule(m, x1, fm, rm, f1)
    if (depth > 40 || Math.abs(left + right - whole) <= 15 * eps) return left + right + (left + right - whole) / 15
    return recurse(x0, m, f0, lm, fm, left, eps / 2, depth + 1) + recurse(m, x1, fm, rm, f1, right, eps / 2, depth + 1)
  }
  if (a === b) return 0
  const [f0, fm, f1] = [f(a), f(0.5 * (a + b)), f(b)]
  return recurse(a, b, f0, fm, f1, rule(a, b, f0, fm, f1), tol, 0)
}

/** Deterministic uniforms in [0, 1) (a 32-bit mixing generator), so statistical tests never flake. */
export function uniforms(seed: number, n: number): Float64Array {
  const next = seededWords(seed)
  return Float64Array.from({ length: n }, () => next() / 4294967296)
}

/** Kolmogorov–Smirnov statistic D = sup |F_n − F| of samples against a CDF. */
export function ksStatistic(samples: Float64Array, cdf: (x: number) => number): number {
  const sorted = Float64Array.from(samples).sort()
  const n = sorted.length
  let d = 0
  sorted.forEach((x, i) => {
    const F = cdf(x)
    d = Math.max(d, F - i / n, (i + 1) / n - F)
  })
  return d
}

/** The 1% critical value of the one-sample KS test for large n. */
export const ksCritical = (n: number): number => 1.63 / Math.sqrt(n)

/** n points spread over [a, b], log-spaced when a > 0 so small t is covered. */
export function grid(a: number, b: number, n: number): number[] {
  return Array.from({ length: n }, (_, k) => (a > 0 ? a * Math.pow(b / a, k / (n - 1)) : a + ((b - a) * k) / (n - 1)))
}
