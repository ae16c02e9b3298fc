/** WGSL helpers a kernel calls by name: the numerics prelude, and random draws (with rng.ts). */
import type { Scalar } from "./scalar.ts"

/** Numerically careful helpers WGSL lacks; mirrored exactly by `scalar-eval.ts` on the CPU. */
export const wgslPrelude = /* wgsl */ `
var<private> sdf_inf_bits: u32 = 0x7f800000u;
var<private> sdf_nan_bits: u32 = 0x7fc00000u;
// log1p and expm1 must not call log/exp near 1/0: WGSL bounds log only absolutely there and
// lavapipe loses all relative accuracy (19% error at x = 1e-7 with the log-based corrections of
// Goldberg and Kahan). Small |x| use series instead: log1p(x) = 2 atanh(s), s = x / (2 + x), |s| ≤ 0.053,
// truncated after s^7 (relative error < 1e-11); expm1's Taylor polynomial to x^6 (< 3e-10 for |x| < 0.1).
fn sdf_log1p(x: f32) -> f32 {
  if (abs(x) < 0.1) {
    let s = x / (2.0 + x);
    let s2 = s * s;
    return 2.0 * s * (1.0 + s2 * (0.33333334 + s2 * (0.2 + s2 * 0.14285715)));
  }
  let u = 1.0 + x;
  return log(u) * (x / (u - 1.0));
}
fn sdf_expm1(x: f32) -> f32 {
  if (abs(x) < 0.1) {
    return x * (1.0 + x * (0.5 + x * (0.16666667 + x * (0.041666668 + x * (0.008333334 + x * 0.0013888889)))));
  }
  return exp(x) - 1.0;
}
// tanh = -expm1(-2|x|) / (2 + expm1(-2|x|)): never overflows, unlike (e^2x - 1)/(e^2x + 1), and
// keeps its relative accuracy near 0, where 1 - exp(-2|x|) would cancel (1% error at x = 1e-6).
fn sdf_tanh(x: f32) -> f32 { let e = sdf_expm1(-2.0 * abs(x)); return sign(x) * (-e) / (2.0 + e); }
fn sdf_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn sdf_softplus(x: f32) -> f32 { return max(x, 0.0) + sdf_log1p(exp(-abs(x))); }
// Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7.
fn sdf_erf(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign(x) * (1.0 - poly * exp(-a * a));
}
// a / d and a % d for 0 ≤ a < 2^22 and d ≥ 1, given r = f32(1/d) rounded once: (a + 0.5)/d lies at
// least 0.5/d from every integer, and (f32(a) + 0.5)·r is within (a + 0.5)/d · 2^-23 < 0.5/d of it
// (both roundings, each 2^-24 relative), so truncating it gives the quotient exactly.
fn sdf_idiv(a: i32, d: i32, r: f32) -> i32 { return i32((f32(a) + 0.5) * r); }
fn sdf_imod(a: i32, d: i32, r: f32) -> i32 { return a - sdf_idiv(a, d, r) * d; }
// x^y; WGSL's pow is undefined for x < 0, ours follows the integer-exponent convention.
fn sdf_pow(x: f32, y: f32) -> f32 {
  if (x > 0.0) { return pow(x, y); }
  if (x == 0.0) { return select(select(bitcast<f32>(sdf_inf_bits), 1.0, y == 0.0), 0.0, y > 0.0); }
  if (y != floor(y)) { return bitcast<f32>(sdf_nan_bits); }
  let m = pow(-x, y);
  return select(-m, m, (abs(y) % 2.0) == 0.0);
}
`

/** sin and cos of our own, for kernels that take them (and Box–Muller behind every random draw). */
export const trigPrelude = /* wgsl */ `
// WGSL bounds sin and cos only absolutely (2^-11 on [-π, π]) and implementations differ within that
// bound (SwiftShader's are far looser than lavapipe's: docs/design.md). Our own give every WebGPU
// implementation the oracle's numbers to float rounding: a Cody–Waite reduction by π/2 in three parts
// (exact for |x| < 2^15·π/2), then Cephes' single-precision polynomials on [-π/4, π/4] (about 1 ulp),
// which sdf_sincos_quarter evaluates (rng.ts's Box–Muller calls it directly: its angle comes reduced).
fn sdf_sincos_quarter(r: f32) -> vec2<f32> {
  let z = r * r;
  let s = ((-1.9515296e-4 * z + 8.3321609e-3) * z - 1.6666655e-1) * z * r + r;
  let c = ((2.4433157e-5 * z - 1.3887316e-3) * z + 4.1666646e-2) * z * z - 0.5 * z + 1.0;
  return vec2<f32>(s, c);
}
fn sdf_sincos(x: f32) -> vec2<f32> {
  let k = round(x * 0.63661977);
  let r = ((x - k * 1.5703125) - k * 4.8375129699707031e-4) - k * 7.5497899548918822e-8;
  let quarter = sdf_sincos_quarter(r);
  let s = quarter.x;
  let c = quarter.y;
  let quadrant = i32(k) & 3;
  let sine = select(select(s, c, quadrant == 1), select(-s, -c, quadrant == 3), quadrant >= 2);
  let cosine = select(select(c, -s, quadrant == 1), select(-c, s, quadrant == 3), quadrant >= 2);
  return vec2<f32>(sine, cosine);
}
fn sdf_sin(x: f32) -> f32 { return sdf_sincos(x).x; }
fn sdf_cos(x: f32) -> f32 { return sdf_sincos(x).y; }
`

/** Element `index`'s value from its block (rng.ts's `draws`), for a kernel that draws one element alone. */
const drawWgsl: Record<string, string> = {
  uniform: "rng_uniform(bits[word])",
  normal: "rng_normal_pair(bits.x, bits.y)[word]",
  rademacher: "rng_rademacher(bits[word])",
}

const drawFunction = (dist: string, suffix: string, stepParam: string, step: string): string =>
  `fn sdf_random_${dist}${suffix}(salt: u32, ${stepParam}index: i32) -> f32 { ` +
  `let bits = random_bits(u[0][0], salt, ${step}, u32(index) >> 1u); let word = u32(index) & 1u; return ${drawWgsl[dist]}; }`

/** The `sdf_random_*` draws of kernel bodies, over rng.ts's `random_bits`: at the run's step, or at an explicit one (`_at`). */
export const randomPrelude = Object.keys(drawWgsl)
  .flatMap((dist) => [drawFunction(dist, "", "", "u[0][1]"), drawFunction(dist, "_at", "step: u32, ", "step")])
  .join("\n")

/** Whether a scalar DAG has a node that passes `test`. */
const anyScalar = (s: Scalar, test: (s: Scalar) => boolean, seen = new Set<number>()): boolean => {
  if (seen.has(s.id)) return false
  seen.add(s.id)
  return test(s) || s.args.some((a) => anyScalar(a, test, seen))
}

/** Whether a scalar DAG draws random numbers (its kernel then includes rng.ts's WGSL and the random prelude). */
export const usesRandom = (s: Scalar): boolean => anyScalar(s, (x) => x.op.k === "random")

/** Whether a kernel needs `trigPrelude`: it takes a sine or cosine, or draws random numbers (Box–Muller). */
export const usesTrig = (s: Scalar): boolean =>
  anyScalar(s, (x) => x.op.k === "random" || (x.op.k === "unary" && (x.op.fn === "sin" || x.op.fn === "cos")))
