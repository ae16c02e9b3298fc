/**
 * Counter-based random numbers: Threefry-2x32-20 (Salmon, Moraes, Dror, Shaw, "Parallel Random Numbers:
 * As Easy as 1, 2, 3", SC11; JAX's generator), once in TypeScript (the oracle) and once in WGSL (inside
 * fused kernels).
 *
 * Noise in sdeflow is a pure function of (seed, salt, step, element index), so a kernel draws it where
 * it is consumed and the JS oracle reproduces it without any shared state. Threefry rather than Philox:
 * it needs adds, rotations and xors only, while Philox's 32×32→64-bit products are emulated from 16-bit
 * halves in WGSL (no u64), which made its noise cost twice Threefry's on lavapipe (bench/README.md).
 * Twenty rounds, as published (thirteen is the Crush-resistant minimum).
 *
 * Agreement between the two sides:
 * - raw bits, `uniformFromBits` and `rademacherFromBits`: bit-identical (integer ops, exact f32 ops);
 * - `normalFromBits`: within `normalTolerance`, because WGSL's `log` is not correctly rounded and the
 *   prelude's sine and cosine are polynomials (JS computes them in float64 and rounds once).
 */

/** Threefry-2x32 rotation distances, round r using ROTATIONS[r mod 8], and the Skein key-schedule parity. */
const ROTATIONS = [13, 15, 26, 6, 17, 29, 16, 24] as const
const KEY_PARITY = 0x1bd11bda

const rotl = (x: number, r: number): number => ((x << r) | (x >>> (32 - r))) >>> 0

/** Threefry-2x32-20 block: 2 u32 outputs for key (2 u32) and counter (2 u32). */
export const threefry2x32 = (k0: number, k1: number, c0: number, c1: number): [number, number] => {
  const keys = [k0 >>> 0, k1 >>> 0, (KEY_PARITY ^ k0 ^ k1) >>> 0]
  let x0 = (c0 + keys[0]!) >>> 0
  let x1 = (c1 + keys[1]!) >>> 0
  for (let round = 0; round < 20; round++) {
    x0 = (x0 + x1) >>> 0
    x1 = rotl(x1, ROTATIONS[round % 8]!) ^ x0
    // The key (rotated through its three words, plus the injection count) is added after every fourth round.
    if (round % 4 === 3) {
      const n = (round + 1) / 4
      x0 = (x0 + keys[n % 3]!) >>> 0
      x1 = (x1 + keys[(n + 1) % 3]! + n) >>> 0
    }
  }
  return [x0 >>> 0, x1 >>> 0]
}

/** Counter layout used by sdeflow: key = (seed, salt), counter = (block, step). `salt` tells apart the random nodes of one program. */
export const randomBits = (seed: number, salt: number, step: number, block: number): [number, number] =>
  threefry2x32(seed, salt, block, step)

/**
 * Uniform in (0,1), never 0 or 1, computed in float32 exactly as the WGSL does (so bit-identical):
 * (k + ½)·2⁻²³ with k the top 23 bits. k + ½ needs 24 significant bits, which f32 has, so every step is
 * exact; with 24 bits of k, k + ½ would round (to 1.0 for k = 2²⁴ − 1). Range [2⁻²⁴, 1 − 2⁻²⁴].
 */
export const uniformFromBits = (bits: number): number => ((bits >>> 9) + 0.5) * 2 ** -23

/** Above this u, ln u comes from a series in v = 1 − u instead of the built-in log (see `logNearOne`). */
const NEAR_ONE = 1 - 2 ** -6
const THIRD_F32 = Math.fround(1 / 3)

/**
 * ln u for u > 1 − 2⁻⁶, in f32 as the WGSL does: −v(1 + v(½ + v(⅓ + v/4))), v = 1 − u (exact).
 * WGSL bounds `log` only absolutely (2⁻²¹) on [0.5, 2], and GPUs do lose the relative accuracy near
 * 1 (lavapipe: 1e-4 error in z at u = 1 − 2⁻²⁴), which √(−2 ln u) ≈ √(2v) turns into a large error.
 * The dropped terms are below v⁴/5 ≤ 2⁻²⁶ relative.
 */
const logNearOne = (u: number): number => {
  const v = 1 - u
  const inner = Math.fround(THIRD_F32 + Math.fround(v * 0.25))
  const middle = Math.fround(0.5 + Math.fround(v * inner))
  const outer = Math.fround(1 + Math.fround(v * middle))
  return -Math.fround(v * outer)
}

/**
 * Standard normal from two words by Box–Muller: √(−2 ln u₁)·cos θ for `branch` 0 and √(−2 ln u₁)·sin θ for
 * 1, θ = π(2u₂ − 1) ∈ (−π, π). The radius is computed in float32 as the WGSL does (Math.fround at each
 * step); θ, its cosine and sine in float64, since the WGSL takes θ exactly from u₂'s bits (quadrant and
 * offset, see `rng_normal_pair`) and evaluates sin and cos to about an ulp. The two branches of one pair
 * are independent normals. |z| ≤ √(48 ln 2) ≈ 5.77 since u₁ ≥ 2⁻²⁴.
 */
export const normalFromBits = (b0: number, b1: number, branch: 0 | 1 = 0): number => {
  const uRadius = uniformFromBits(b0)
  const logRadius = uRadius > NEAR_ONE ? logNearOne(uRadius) : Math.fround(Math.log(uRadius))
  // max(…, 0) mirrors the WGSL guard against a sloppy log returning a positive value near u₁ = 1.
  // −2·ln u₁ is exact in f32 (a power-of-two scaling), so needs no fround.
  const radius = Math.fround(Math.sqrt(Math.max(-2 * logRadius, 0)))
  const angle = Math.PI * (2 * uniformFromBits(b1) - 1)
  return Math.fround(radius * (branch === 0 ? Math.cos(angle) : Math.sin(angle)))
}

/** ±1 with probability 1/2 each (the word's top bit). */
export const rademacherFromBits = (bits: number): number => 1 - 2 * (bits >>> 31)

/**
 * The draws of element `index` of a random tensor. One Threefry block serves two adjacent elements:
 * block ⌊index / 2⌋ gives element 2b + w its word w (uniform, Rademacher), or for normals the cosine
 * (w = 0) or sine (w = 1) branch of the Box–Muller pair of its two words. A kernel that computes
 * adjacent elements together runs a block once for both, and each element's value stays a pure function
 * of (seed, salt, step, index).
 */
export const draws = {
  uniform: (seed: number, salt: number, step: number, index: number): number =>
    uniformFromBits(randomBits(seed, salt, step, index >>> 1)[index & 1]!),
  normal: (seed: number, salt: number, step: number, index: number): number => {
    const [b0, b1] = randomBits(seed, salt, step, index >>> 1)
    return normalFromBits(b0, b1, (index & 1) as 0 | 1)
  },
  rademacher: (seed: number, salt: number, step: number, index: number): number =>
    rademacherFromBits(randomBits(seed, salt, step, index >>> 1)[index & 1]!),
}

/**
 * Largest |CPU − GPU| allowed for `normalFromBits` vs `rng_normal_pair`. Measured on lavapipe (llvmpipe,
 * Mesa 25) over 8M normals: max 9.5e-7 (2 ulp at |z| ≈ 4.8), 61% bit-identical. The bound leaves
 * room for other drivers' f32 log (a few 1e-7, times |z| ≤ 5.77) while staying far below the O(1)
 * error of a wrong word, mapping or sign. Sine and cosine are the prelude's polynomials, not WGSL's, whose
 * bound (2⁻¹¹ absolute) would allow 3e-3 and which SwiftShader nearly uses.
 */
export const normalTolerance = 1e-5

/** WGSL source defining `threefry2x32`, `random_bits`, `random_bits4`, `rng_uniform`, `rng_normal_pair`, `rng_rademacher` and their 4-element forms. */
export const rngWgsl = /* wgsl */ `
// ---- counter-based RNG: Threefry-2x32-20 (Salmon et al., SC11); mirrors src/compile/rng.ts ----
const RNG_KEY_PARITY: u32 = 0x1BD11BDAu;
const RNG_THIRD: f32 = 0.33333333333333333333;
const RNG_NEAR_ONE: f32 = 0.984375;  // 1 - 2^-6
const RNG_SQRT_HALF: f32 = 0.70710678118654752;
const RNG_PI_2_POW_M22: f32 = 7.490140565847857e-7;  // pi * 2^-22: one step of b1's top 23 bits, in radians

// One Threefry round: add, rotate by r, xor.
fn rng_round(x: vec2u, r: u32) -> vec2u {
  let sum = x.x + x.y;
  return vec2u(sum, ((x.y << r) | (x.y >> (32u - r))) ^ sum);
}

// Four rounds, with the first (13, 15, 26, 6) or the second (17, 29, 16, 24) half of the rotations.
fn rng_rounds_a(x: vec2u) -> vec2u { return rng_round(rng_round(rng_round(rng_round(x, 13u), 15u), 26u), 6u); }
fn rng_rounds_b(x: vec2u) -> vec2u { return rng_round(rng_round(rng_round(rng_round(x, 17u), 29u), 16u), 24u); }

// Twenty rounds; after every fourth the key, rotated through its three words, plus the injection count.
fn threefry2x32(key: vec2u, ctr: vec2u) -> vec2u {
  let k2 = RNG_KEY_PARITY ^ key.x ^ key.y;
  var x = ctr + key;
  x = rng_rounds_a(x) + vec2u(key.y, k2 + 1u);
  x = rng_rounds_b(x) + vec2u(k2, key.x + 2u);
  x = rng_rounds_a(x) + vec2u(key.x, key.y + 3u);
  x = rng_rounds_b(x) + vec2u(key.y, k2 + 4u);
  return rng_rounds_a(x) + vec2u(k2, key.x + 5u);
}

// sdeflow's layout: key = (seed, salt), counter = (block, step); a block serves 2 elements.
fn random_bits(seed: u32, salt: u32, step: u32, block: u32) -> vec2u {
  return threefry2x32(vec2u(seed, salt), vec2u(block, step));
}

// The blocks of four adjacent elements 4b .. 4b + 3: blocks 2b and 2b + 1.
fn random_bits4(seed: u32, salt: u32, step: u32, block: u32) -> vec4u {
  return vec4u(random_bits(seed, salt, step, 2u * block), random_bits(seed, salt, step, 2u * block + 1u));
}

// (k + 1/2) * 2^-23 with k the top 23 bits: exact in f32, so it matches the JS oracle bit for bit;
// never 0 or 1.
fn rng_uniform(bits: u32) -> f32 {
  let top_bits = f32(bits >> 9u);
  return (top_bits + 0.5) * 0x1p-23f;
}

// ln(u) for u > 1 - 2^-6 as a series in v = 1 - u (exact): WGSL bounds log only absolutely near 1,
// and sqrt(-2 ln u) ~ sqrt(2v) magnifies that error. Dropped terms < v^4/5 <= 2^-26 relative.
fn rng_log_near_one(u: f32) -> f32 {
  let v = 1.0 - u;
  let inner = RNG_THIRD + v * 0.25;
  let middle = 0.5 + v * inner;
  let outer = 1.0 + v * middle;
  return -(v * outer);
}

// Box-Muller: (cos, sin) of one pair. The angle pi*(2*u2 - 1) is read off b1's top 23 bits: the top two
// pick the quadrant, the other 21 the angle psi within it, centred on the quadrant's middle, so
// sdf_sincos_quarter needs no range reduction; rotating by the middle's +-45 degrees costs a sum, a
// difference and signs. (r + 1/2) - 2^20 is exact in f32.
fn rng_normal_pair(b0: u32, b1: u32) -> vec2<f32> {
  let u_radius = rng_uniform(b0);
  let log_radius = select(log(u_radius), rng_log_near_one(u_radius), u_radius > RNG_NEAR_ONE);
  let radius = sqrt(max(-2.0 * log_radius, 0.0)) * RNG_SQRT_HALF;
  let k = b1 >> 9u;
  let quadrant = k >> 21u;
  let psi = (f32(i32(k & 0x1FFFFFu) - 1048576) + 0.5) * RNG_PI_2_POW_M22;
  let quarter = sdf_sincos_quarter(psi);
  let sum = quarter.y + quarter.x;
  let difference = quarter.y - quarter.x;
  let odd = (quadrant & 1u) == 1u;
  let cosine = select(difference, sum, odd) * select(1.0, -1.0, quadrant == 0u || quadrant == 3u);
  let sine = select(sum, difference, odd) * select(1.0, -1.0, quadrant < 2u);
  return radius * vec2<f32>(cosine, sine);
}

// Four adjacent elements from random_bits4 (rng.ts's draws): words as uniforms, or two Box-Muller pairs.
fn rng_uniform4(bits: vec4u) -> vec4<f32> {
  return (vec4<f32>(bits >> vec4u(9u)) + 0.5) * 0x1p-23f;
}
fn rng_normal4(bits: vec4u) -> vec4<f32> {
  return vec4<f32>(rng_normal_pair(bits.x, bits.y), rng_normal_pair(bits.z, bits.w));
}
fn rng_rademacher4(bits: vec4u) -> vec4<f32> {
  return 1.0 - 2.0 * vec4<f32>(bits >> vec4u(31u));
}

// +1 or -1 from the top bit.
fn rng_rademacher(bits: u32) -> f32 {
  return 1.0 - 2.0 * f32(bits >> 31u);
}
`
