/** Whether two runs of a program agree: pure comparisons of host arrays, and the median of timings. */

export type HostArray = ArrayLike<number>

/**
 * max|a − b| / scale, by default scale = max|b| — the error relative to the output's largest magnitude
 * (its ∞-norm), so gradients of 1e-3 and activations of 10 are judged alike. Infinity when any value
 * is not finite or the lengths differ (a benchmark of a NaN-producing program is worthless); 0 when
 * the two are identical.
 */
export const relativeError = (a: HostArray, b: HostArray, scale?: number): number => {
  if (a.length !== b.length) return Infinity
  let worst = 0
  let largest = 0
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!
    const y = b[i]!
    if (!Number.isFinite(x) || !Number.isFinite(y)) return Infinity
    worst = Math.max(worst, Math.abs(x - y))
    largest = Math.max(largest, Math.abs(y))
  }
  return worst === 0 ? 0 : worst / (scale ?? largest)
}

/** One output of a program as the fused and the unfused compilation computed it. */
export interface OutputPair {
  readonly name: string
  readonly fused: HostArray
  readonly unfused: HostArray
}

const infinityNorm = (x: HostArray): number => {
  let m = 0
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]!))
  return m
}

/**
 * An output this much smaller than the program's largest one is judged on the program's scale: a
 * gradient that is zero in exact arithmetic (a bias just before a GroupNorm, an attention key's bias)
 * comes out as f32 rounding noise of ~1e-9 whose digits no two summation orders share.
 */
export const negligibleFraction = 1e-3

/**
 * The worst disagreement over all outputs: max|fused − unfused| / max(‖unfused‖∞, negligibleFraction ·
 * largest ‖output‖∞ of the program), and which output it was. Infinity for non-finite values.
 */
export const worstDisagreement = (pairs: readonly OutputPair[]): { error: number; output: string } => {
  const floor = negligibleFraction * Math.max(0, ...pairs.map((p) => infinityNorm(p.unfused)))
  let worst = { error: 0, output: "" }
  for (const p of pairs) {
    const scale = Math.max(infinityNorm(p.unfused), floor)
    const error = relativeError(p.fused, p.unfused, scale)
    if (!(error <= worst.error)) worst = { error, output: p.name }
  }
  return worst
}

/** The middle value (mean of the two middle ones for an even count); NaN for no samples. */
export const median = (samples: readonly number[]): number => {
  if (samples.length === 0) return NaN
  const sorted = [...samples].sort((x, y) => x - y)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
