/**
 * A small seeded PRNG for host-side data work (shuffling, dequantisation noise, flips). Not the device RNG:
 * kernels use a counter-based generator; here only reproducibility from a seed matters.
 */

/** Mix two 32-bit words into one well-scrambled 32-bit seed (murmur3's finaliser over a·φ + b). */
export const mixSeed = (a: number, b: number): number => {
  let h = (Math.imul(a >>> 0, 0x9e3779b1) + (b >>> 0)) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

/** A generator of uint32 words from a seed (mulberry32: one add, two multiplies per draw, period 2^32). */
export const seededWords = (seed: number): (() => number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let z = state
    z = Math.imul(z ^ (z >>> 15), z | 1)
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61)
    return (z ^ (z >>> 14)) >>> 0
  }
}

/** A generator of uniform floats in [0, 1) from a seed (32 random bits each). */
export const seededUniform = (seed: number): (() => number) => {
  const words = seededWords(seed)
  return () => words() / 4294967296
}
