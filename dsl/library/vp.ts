/** The variance-preserving SDE (DDPM's continuous limit): β(t) linear from β_min to β_max. */
import { lerp, t } from "../time/index.ts"
import { linearSde } from "../sde.ts"

/**
 * dx = −½β(t)·x dt + √β(t) dW on [0, T] with β(t) = β_min + (β_max − β_min)·t for every T, as
 * sdeflow-light's `VariancePreservingSDE(beta_min, beta_max, T)`: T sets the horizon only, so β(1) = β_max
 * and a longer horizon runs β past it. Marginal: m(t) = exp(−¼t²(β_max − β_min) − ½tβ_min),
 * v(t) = 1 − m(t)². The repo has no β rescaled to reach β_max at T; write that one as a `linearSde`.
 */
export const vp = ({ betaMin = 0.1, betaMax = 20, T = 1 } = {}) => {
  const beta = lerp(betaMin, betaMax, t)
  return linearSde({ name: `vp(β ${betaMin}→${betaMax})`, f: beta.mul(-0.5), g: beta.sqrt(), T })
}
