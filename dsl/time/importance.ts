/**
 * The importance distribution for the diffusion time: q(t) ∝ g(t)²/v(t), truncated below ε by
 * holding it flat (q(t) = q(ε) for t < ε, as Huang et al. 2021 do for VP), with its CDF and inverse
 * CDF. Closed forms where the integrator and the inverter find them; tables otherwise.
 */
import { ImproperDensity, InvalidHorizon } from "./errors.ts"
import { constant, max, min, mul, pow, recip, substitute, t, type TimeExpr, type TimeLike } from "./expr.ts"
import { evaluate } from "./evaluate.ts"
import { integrate, type IntegralMethod } from "./integrate.ts"
import { inverseCandidates, inverseTable, roundTrips } from "./inverse.ts"
import { show } from "./show.ts"
import { simplify, sumOf } from "./simplify.ts"

/** Diffusion g(t), derived marginal variance v(t), truncation ε and horizon T. */
export interface ImportanceSpec {
  readonly g: TimeLike
  readonly variance: TimeExpr
  readonly eps: number
  readonly T: number
  /** Allow quadrature tables for the CDF (default true). */
  readonly quadrature?: boolean
}

/** A normalised density on [0, T] with its CDF and a sampler t = inverseCdf(u), u ~ U(0, 1). */
export interface ImportanceDensity {
  /** q(t) = g²/v / Z for t ≥ ε, q(ε) below; integrates to 1 over [0, T]. */
  readonly density: TimeExpr
  /** P(τ ≤ t) for t ∈ [0, T]. */
  readonly cdf: TimeExpr
  /** The inverse CDF; its variable `t` stands for the uniform variate u ∈ [0, 1]. */
  readonly inverseCdf: TimeExpr
  /** Normaliser ε·w(ε) + ∫_ε^T w, w = g²/v (the flat part below ε included). */
  readonly Z: number
  /** P(τ < ε): the mass of the flat part. */
  readonly flatMass: number
  readonly eps: number
  readonly T: number
  readonly method: { readonly cdf: IntegralMethod; readonly inverseCdf: "closed-form" | "table" }
}

/** Derives q, its CDF and inverse CDF; throws InvalidHorizon (T ≤ ε, ε ≤ 0) or ImproperDensity. */
export function importanceDensity(spec: ImportanceSpec): ImportanceDensity {
  const { eps, T } = spec
  if (!(Number.isFinite(eps) && Number.isFinite(T) && eps > 0 && T > eps)) {
    throw new InvalidHorizon({ message: `need 0 < ε < T, got ε = ${eps}, T = ${T}`, eps, T })
  }
  const g = typeof spec.g === "number" ? constant(spec.g) : spec.g
  const weight = simplify(mul(pow(g, 2), recip(spec.variance)))
  const points = checkPoints(eps, T)
  assertProper(weight, points)

  const above = integrate(weight, eps, T, { quadrature: spec.quadrature ?? true })
  const wEps = evaluate(weight, eps)
  const flat = eps * wEps
  const Z = flat + evaluate(above.expr, T)
  const flatMass = flat / Z

  // On [ε, T]: F(t) = (ε·w(ε) + ∫_ε^t w)/Z. Below ε the density is flat, so F is linear there.
  const cdfAbove = simplify(mul(sumOf([constant(flat), above.expr]), constant(1 / Z)))
  const slope = simplify(mul(weight, constant(1 / Z)))
  const closed = inverseCandidates(cdfAbove).find((G) => roundTrips(cdfAbove, G, points))
  const inverseAbove = closed ?? inverseTable(cdfAbove, slope, eps, T)

  const clampedT = max(t, constant(eps))
  const clampedU = max(t, constant(flatMass))
  return {
    density: simplify(mul(substitute(weight, clampedT), constant(1 / Z))),
    // F(t) = w(ε)/Z·min(t, ε) + ∫_ε^{max(t, ε)} w / Z: each piece vanishes on the other side of ε.
    cdf: simplify(sumOf([
      mul(constant(wEps / Z), min(t, constant(eps))),
      mul(substitute(above.expr, clampedT), constant(1 / Z)),
    ])),
    // F⁻¹(u) = Z/w(ε)·min(u, u₀) + F_above⁻¹(max(u, u₀)) − F_above⁻¹(u₀), u₀ = flatMass. The last
    // term is ε up to rounding; subtracting the computed value makes the second piece vanish exactly
    // below u₀, where t is tiny and an absolute 1e-16 would be a large relative error.
    inverseCdf: simplify(sumOf([
      mul(constant(Z / wEps), min(t, constant(flatMass))),
      substitute(inverseAbove, clampedU),
      constant(-evaluate(inverseAbove, flatMass)),
    ])),
    Z,
    flatMass,
    eps,
    T,
    method: { cdf: above.method, inverseCdf: closed ? "closed-form" : "table" },
  }
}

/** Uniform and log-spaced points of [ε, T]: the weight typically varies like 1/t near ε. */
function checkPoints(eps: number, T: number): number[] {
  const n = 32
  const points: number[] = []
  for (let k = 0; k <= n; k++) points.push(eps + ((T - eps) * k) / n, eps * Math.pow(T / eps, k / n))
  return points.sort((a, b) => a - b)
}

function assertProper(weight: TimeExpr, points: readonly number[]): void {
  for (const x of points) {
    const w = evaluate(weight, x)
    if (!(w > 0 && Number.isFinite(w))) {
      throw new ImproperDensity({
        message: `importance weight g²/v = ${show(weight)} is ${w} at t = ${x}; it must be finite and > 0 on [ε, T]`,
        t: x, value: w, expression: show(weight),
      })
    }
  }
}
