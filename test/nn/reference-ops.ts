/**
 * Float64 reference implementations of the layers, written as plain loops straight from the
 * definitions (PyTorch's documented semantics), independent of the graph IR. Arrays are row-major.
 */

export type Array64 = Float64Array
export type Shape4 = readonly [number, number, number, number]

const at4 = (s: Shape4, a: number, b: number, c: number, d: number): number => ((a * s[1] + b) * s[2] + c) * s[3] + d

/** y[n, o] = Σᵢ x[n, i]·W[o, i] + b[o]. */
export const denseRef = (x: ArrayLike<number>, n: number, inF: number, w: ArrayLike<number>, b: ArrayLike<number>, outF: number): Array64 => {
  const y = new Float64Array(n * outF)
  for (let r = 0; r < n; r++)
    for (let o = 0; o < outF; o++) {
      let acc = b[o]!
      for (let i = 0; i < inF; i++) acc += x[r * inF + i]! * w[o * inF + i]!
      y[r * outF + o] = acc
    }
  return y
}

/** Cross-correlation with zero padding, as `nn.Conv2d`; returns the output and its shape. */
export const conv2dRef = (
  x: ArrayLike<number>, xs: Shape4, w: ArrayLike<number>, ws: Shape4, b: ArrayLike<number>, stride: number, padding: number,
): { y: Array64; shape: Shape4 } => {
  const [n, c, h, wd] = xs
  const [o, , kh, kw] = ws
  const ho = Math.floor((h + 2 * padding - kh) / stride) + 1
  const wo = Math.floor((wd + 2 * padding - kw) / stride) + 1
  const shape: Shape4 = [n, o, ho, wo]
  const y = new Float64Array(n * o * ho * wo)
  for (let s = 0; s < n; s++)
    for (let oc = 0; oc < o; oc++)
      for (let i = 0; i < ho; i++)
        for (let j = 0; j < wo; j++) {
          let acc = b[oc]!
          for (let ic = 0; ic < c; ic++)
            for (let di = 0; di < kh; di++)
              for (let dj = 0; dj < kw; dj++) {
                const [yi, xj] = [i * stride + di - padding, j * stride + dj - padding]
                if (yi < 0 || yi >= h || xj < 0 || xj >= wd) continue
                acc += x[at4(xs, s, ic, yi, xj)]! * w[at4(ws, oc, ic, di, dj)]!
              }
          y[at4(shape, s, oc, i, j)] = acc
        }
  return { y, shape }
}

/** `nn.GroupNorm`: per (sample, group) mean and biased variance, then the per-channel affine map. */
export const groupNormRef = (x: ArrayLike<number>, xs: Shape4, groups: number, eps: number, w: ArrayLike<number>, b: ArrayLike<number>): Array64 => {
  const [n, c, h, wd] = xs
  const per = c / groups
  const y = new Float64Array(x.length)
  for (let s = 0; s < n; s++)
    for (let g = 0; g < groups; g++) {
      const members: number[] = []
      for (let ch = g * per; ch < (g + 1) * per; ch++) for (let i = 0; i < h * wd; i++) members.push(at4(xs, s, ch, 0, 0) + i)
      const mean = members.reduce((m, k) => m + x[k]!, 0) / members.length
      const variance = members.reduce((v, k) => v + (x[k]! - mean) ** 2, 0) / members.length
      for (const k of members) {
        const ch = Math.floor(k / (h * wd)) % c
        y[k] = ((x[k]! - mean) / Math.sqrt(variance + eps)) * w[ch]! + b[ch]!
      }
    }
  return y
}

export const siluRef = (x: ArrayLike<number>): Array64 => Float64Array.from(x, (v) => v / (1 + Math.exp(-v)))

/** Nearest-neighbour ×2: out[n, c, i, j] = x[n, c, ⌊i/2⌋, ⌊j/2⌋]. */
export const upsampleRef = (x: ArrayLike<number>, xs: Shape4): Array64 => {
  const [n, c, h, w] = xs
  const out: Shape4 = [n, c, 2 * h, 2 * w]
  const y = new Float64Array(x.length * 4)
  for (let s = 0; s < n; s++) for (let ch = 0; ch < c; ch++) for (let i = 0; i < 2 * h; i++) for (let j = 0; j < 2 * w; j++)
    y[at4(out, s, ch, i, j)] = x[at4(xs, s, ch, i >> 1, j >> 1)]!
  return y
}

/** DDPM's timestep features: [sin(t·ωᵢ)]ᵢ ++ [cos(t·ωᵢ)]ᵢ, ωᵢ = exp(−i·ln 10⁴/(h−1)), zero column if dim is odd. */
export const timestepRef = (t: readonly number[], dim: number): Array64 => {
  const half = Math.floor(dim / 2)
  const y = new Float64Array(t.length * dim)
  t.forEach((time, r) => {
    for (let i = 0; i < half; i++) {
      const omega = Math.exp((-i * Math.log(10000)) / (half - 1))
      y[r * dim + i] = Math.sin(time * omega)
      y[r * dim + half + i] = Math.cos(time * omega)
    }
  })
  return y
}

export interface AttentionWeights {
  readonly q: readonly [ArrayLike<number>, ArrayLike<number>]
  readonly k: readonly [ArrayLike<number>, ArrayLike<number>]
  readonly v: readonly [ArrayLike<number>, ArrayLike<number>]
  readonly proj: readonly [ArrayLike<number>, ArrayLike<number>]
  readonly norm: readonly [ArrayLike<number>, ArrayLike<number>]
}

/**
 * SAGAN/DDPM self-attention, pixel by pixel: out[c, i] = x[c, i] + proj(Σⱼ softmaxⱼ(q[:, i]·k[:, j] / √C) v[:, j])[c].
 */
export const attentionRef = (x: ArrayLike<number>, xs: Shape4, p: AttentionWeights, groups: number, eps: number): Array64 => {
  const [n, c, h, w] = xs
  const pixels = h * w
  const ws: Shape4 = [c, c, 1, 1]
  const normed = groupNormRef(x, xs, groups, eps, p.norm[0], p.norm[1])
  const [q, k, v] = [p.q, p.k, p.v].map(([wt, b]) => conv2dRef(normed, xs, wt, ws, b, 1, 0).y) as [Array64, Array64, Array64]
  const attended = new Float64Array(x.length)
  for (let s = 0; s < n; s++)
    for (let i = 0; i < pixels; i++) {
      const logits = Array.from({ length: pixels }, (_, j) => {
        let dot = 0
        for (let ch = 0; ch < c; ch++) dot += q[(s * c + ch) * pixels + i]! * k[(s * c + ch) * pixels + j]!
        return dot / Math.sqrt(c)
      })
      const top = Math.max(...logits)
      const e = logits.map((l) => Math.exp(l - top))
      const z = e.reduce((a, b) => a + b, 0)
      for (let ch = 0; ch < c; ch++) attended[(s * c + ch) * pixels + i] = e.reduce((acc, ej, j) => acc + (ej / z) * v[(s * c + ch) * pixels + j]!, 0)
    }
  const projected = conv2dRef(attended, xs, p.proj[0], ws, p.proj[1], 1, 0).y
  return Float64Array.from(projected, (val, i) => val + x[i]!)
}
