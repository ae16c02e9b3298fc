/**
 * Counter-based random numbers: Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel Random Numbers:
 * As Easy as 1, 2, 3", SC11), once in TypeScript (the oracle) and once in WGSL (inside fused kernels).
 *
 * Noise in sdeflow is a pure function of (seed, salt, step, element index), so a kernel draws it where
 * it is consumed and the JS oracle reproduces it without any shared state.
 *
 * Agreement between the two sides:
 * - raw bits, `uniformFromBits` and `rademacherFromBits`: bit-identical (integer ops, exact f32 ops);
 * - `normalFromBits`: within `normalTolerance`, because WGSL's `log`/`cos` are not correctly rounded
 *   (JS computes them in float64 and rounds once, a GPU approximates in f32).
 */

/** Philox multipliers and Weyl key increments (golden ratio, √3 − 1), as published. */
const M0 = 0xd2511f53
const M1 = 0xcd9e8d57
const W0 = 0x9e3779b9
const W1 = 0xbb67ae85

// 16-bit halves of the multipliers, so the high word of the product is computed from exact doubles.
const M0_HI = M0 >>> 16
const M0_LO = M0 & 0xffff
const M1_HI = M1 >>> 16
const M1_LO = M1 & 0xffff

/**
 * High 32 bits of m·x for u32 m = mHi·2¹⁶ + mLo and u32 x. Both partial products are < 2⁴⁸, so they are
 * exact doubles; the high word is ⌊(mHi·x + ⌊mLo·x / 2¹⁶⌋) / 2¹⁶⌋ (floor of a floor, all exact).
 * Plain double arithmetic keeps the oracle's hot loop free of BigInt allocations.
 */
const mulhi = (mHi: number, mLo: number, x: number): number =>
  Math.floor((mHi * x + Math.floor((mLo * x) / 65536)) / 65536)

/** Philox4x32-10 block: 4 u32 outputs for key (2 u32) and counter (4 u32). */
export const philox4x32 = (
  k0: number,
  k1: number,
  c0: number,
  c1: number,
  c2: number,
  c3: number,
): [number, number, number, number] => {
  let key0 = k0 >>> 0
  let key1 = k1 >>> 0
  let x0 = c0 >>> 0
  let x1 = c1 >>> 0
  let x2 = c2 >>> 0
  let x3 = c3 >>> 0
  for (let round = 0; round < 10; round++) {
    // The key is bumped before every round but the first (Random123's schedule).
    if (round > 0) {
      key0 = (key0 + W0) >>> 0
      key1 = (key1 + W1) >>> 0
    }
    const hi0 = mulhi(M0_HI, M0_LO, x0)
    const lo0 = Math.imul(M0, x0) >>> 0
    const hi1 = mulhi(M1_HI, M1_LO, x2)
    const lo1 = Math.imul(M1, x2) >>> 0
    x0 = (hi1 ^ x1 ^ key0) >>> 0
    x1 = lo1
    x2 = (hi0 ^ x3 ^ key1) >>> 0
    x3 = lo0
  }
  return [x0, x1, x2, x3]
}

/** Counter layout used by sdeflow: key = (seed, salt), counter = (block, step, 0, 0). `salt` tells apart the random nodes of one program. */
export const randomBits = (seed: number, salt: number, step: number, block: number): [number, number, number, number] =>
  philox4x32(seed, salt, block, step, 0, 0)

/**
 * Uniform in (0,1), never 0 or 1, computed in float32 exactly as the WGSL does (so bit-identical):
 * (k + ½)·2⁻²³ with k the top 23 bits. k + ½ needs 24 significant bits, which f32 has, so every step is
 * exact; with 24 bits of k, k + ½ would round (to 1.0 for k = 2²⁴ − 1). Range [2⁻²⁴, 1 − 2⁻²⁴].
 */
export const uniformFromBits = (bits: number): number => ((bits >>> 9) + 0.5) * 2 ** -23

/** π rounded to f32, as the WGSL constant is. */
const PI_F32 = Math.fround(Math.PI)

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
 * Standard normal from two words by Box–Muller, computed in float32 (Math.fround at each step,
 * matching WGSL's f32 ops): √(−2 ln u₁)·cos θ for `branch` 0 and √(−2 ln u₁)·sin θ for 1, with
 * θ = π(2u₂ − 1) taken in (−π, π) because that is where WGSL bounds its trigonometry. The two branches
 * of one pair are independent normals. |z| ≤ √(48 ln 2) ≈ 5.77 since u₁ ≥ 2⁻²⁴.
 */
export const normalFromBits = (b0: number, b1: number, branch: 0 | 1 = 0): number => {
  const uRadius = uniformFromBits(b0)
  const uAngle = uniformFromBits(b1)
  const logRadius = uRadius > NEAR_ONE ? logNearOne(uRadius) : Math.fround(Math.log(uRadius))
  // max(…, 0) mirrors the WGSL guard against a sloppy log returning a positive value near u₁ = 1.
  // −2·ln u₁ and 2u₂ − 1 are exact in f32 (a power-of-two scaling; Sterbenz), so need no fround.
  const radius = Math.fround(Math.sqrt(Math.max(-2 * logRadius, 0)))
  const angle = Math.fround(PI_F32 * (2 * uAngle - 1))
  return Math.fround(radius * Math.fround(branch === 0 ? Math.cos(angle) : Math.sin(angle)))
}

/** ±1 with probability 1/2 each (the word's top bit). */
export const rademacherFromBits = (bits: number): number => 1 - 2 * (bits >>> 31)

/**
 * The draws of element `index` of a random tensor. One Philox block serves four adjacent elements:
 * block ⌊index / 4⌋ gives element 4b + w its word w (uniform, Rademacher), or for normals the cosine
 * (even w) or sine (odd w) branch of the Box–Muller pair in words (2⌊w/2⌋, 2⌊w/2⌋ + 1). A kernel that
 * computes the four elements together runs one block instead of four, and each element's value stays a
 * pure function of (seed, salt, step, index).
 */
export const draws = {
  uniform: (seed: number, salt: number, step: number, index: number): number =>
    uniformFromBits(randomBits(seed, salt, step, index >>> 2)[index & 3]!),
  normal: (seed: number, salt: number, step: number, index: number): number => {
    const bits = randomBits(seed, salt, step, index >>> 2)
    const pair = index & 2
    return normalFromBits(bits[pair]!, bits[pair + 1]!, (index & 1) as 0 | 1)
  },
  rademacher: (seed: number, salt: number, step: number, index: number): number =>
    rademacherFromBits(randomBits(seed, salt, step, index >>> 2)[index & 3]!),
}

/**
 * Largest |CPU − GPU| allowed for `normalFromBits` vs `rng_normal_pair`. Measured on lavapipe (llvmpipe,
 * Mesa 25) over 8M normals: max 9.5e-7 (2 ulp at |z| ≈ 4.8), 61% bit-identical. The bound leaves
 * room for other drivers' f32 log (a few 1e-7, times |z| ≤ 5.77) while staying far below the O(1)
 * error of a wrong word, mapping or sign. Sine and cosine are the prelude's `sdf_sincos`, not WGSL's, whose
 * bound (2⁻¹¹ absolute) would allow 3e-3 and which SwiftShader nearly uses.
 */
export const normalTolerance = 1e-5

/** WGSL source defining `philox4x32`, `random_bits`, `rng_uniform`, `rng_normal_pair`, `rng_rademacher` and their 4-element forms (helpers prefixed `philox_`). */
export const philoxWgsl = /* wgsl */ `
// ---- counter-based RNG: Philox4x32-10 (Salmon et al., SC11); mirrors src/compile/philox.ts ----
const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;
const PHILOX_PI: f32 = 3.14159265358979323846;
const PHILOX_THIRD: f32 = 0.33333333333333333333;
const PHILOX_NEAR_ONE: f32 = 0.984375;  // 1 - 2^-6

// High 32 bits of a*b. WGSL has no u64, so the product is assembled from 16-bit halves;
// every partial product is < 2^32 and the carries are summed before they can overflow.
fn philox_mulhi(a: u32, b: u32) -> u32 {
  let a_lo = a & 0xFFFFu;
  let a_hi = a >> 16u;
  let b_lo = b & 0xFFFFu;
  let b_hi = b >> 16u;
  let lo_lo = a_lo * b_lo;
  let lo_hi = a_lo * b_hi;
  let hi_lo = a_hi * b_lo;
  let hi_hi = a_hi * b_hi;
  // Column sum at bit 16 (at most 3 * (2^16 - 1), no overflow); its bits above 16 carry into the high word.
  let middle = (lo_lo >> 16u) + (lo_hi & 0xFFFFu) + (hi_lo & 0xFFFFu);
  return hi_hi + (lo_hi >> 16u) + (hi_lo >> 16u) + (middle >> 16u);
}

// One Philox round: two 32x32->64 multiplies, then a Feistel-like swap keyed by key.
fn philox_round(key: vec2u, ctr: vec4u) -> vec4u {
  let hi0 = philox_mulhi(PHILOX_M0, ctr.x);
  let lo0 = PHILOX_M0 * ctr.x;  // u32 multiplication wraps: the low word
  let hi1 = philox_mulhi(PHILOX_M1, ctr.z);
  let lo1 = PHILOX_M1 * ctr.z;
  return vec4u(hi1 ^ ctr.y ^ key.x, lo1, hi0 ^ ctr.w ^ key.y, lo0);
}

fn philox4x32(key: vec2u, ctr: vec4u) -> vec4u {
  var round_key = key;
  var state = ctr;
  for (var round = 0u; round < 10u; round++) {
    // Key bumped before every round but the first (Random123's schedule).
    if (round > 0u) {
      round_key += vec2u(PHILOX_W0, PHILOX_W1);
    }
    state = philox_round(round_key, state);
  }
  return state;
}

// sdeflow's layout: key = (seed, salt), counter = (block, step, 0, 0); a block serves 4 elements.
fn random_bits(seed: u32, salt: u32, step: u32, block: u32) -> vec4u {
  return philox4x32(vec2u(seed, salt), vec4u(block, step, 0u, 0u));
}

// (k + 1/2) * 2^-23 with k the top 23 bits: exact in f32, so it matches the JS oracle bit for bit;
// never 0 or 1.
fn rng_uniform(bits: u32) -> f32 {
  let top_bits = f32(bits >> 9u);
  return (top_bits + 0.5) * 0x1p-23f;
}

// ln(u) for u > 1 - 2^-6 as a series in v = 1 - u (exact): WGSL bounds log only absolutely near 1,
// and sqrt(-2 ln u) ~ sqrt(2v) magnifies that error. Dropped terms < v^4/5 <= 2^-26 relative.
fn philox_log_near_one(u: f32) -> f32 {
  let v = 1.0 - u;
  let inner = PHILOX_THIRD + v * 0.25;
  let middle = 0.5 + v * inner;
  let outer = 1.0 + v * middle;
  return -(v * outer);
}

// Box-Muller: (cos, sin) branches of one pair, through the prelude's sdf_sincos (WGSL's own sin and cos
// may be off by 2^-11).
fn rng_normal_pair(b0: u32, b1: u32) -> vec2<f32> {
  let u_radius = rng_uniform(b0);
  let u_angle = rng_uniform(b1);
  let log_radius = select(log(u_radius), philox_log_near_one(u_radius), u_radius > PHILOX_NEAR_ONE);
  let radius = sqrt(max(-2.0 * log_radius, 0.0));
  let angle = PHILOX_PI * (2.0 * u_angle - 1.0);
  let sine_cosine = sdf_sincos(angle);
  return radius * vec2<f32>(sine_cosine.y, sine_cosine.x);
}

// The four elements a block serves (philox.ts's draws): words as uniforms, or two Box-Muller pairs.
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
