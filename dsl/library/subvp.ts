/**
 * The sub-VP SDE (Song et al. 2021): VP's drift, diffusion scaled by 1 − e^{−2∫β}. β(t) is VP's,
 * β_min + (β_max − β_min)·t for every T (T sets the horizon only), so `subvp({ T })` and `vp({ T })`
 * share one β.
 */
import { lerp, t } from "../time/index.ts"
import { linearSde } from "../sde.ts"

export const subvp = ({ betaMin = 0.1, betaMax = 20, T = 1 } = {}) => {
  const beta = lerp(betaMin, betaMax, t)
  const integral = t.mul(betaMin).add(t.square().mul((betaMax - betaMin) / 2))
  const g2 = beta.mul(integral.mul(-2).exp().neg().add(1))
  return linearSde({ name: `subvp(β ${betaMin}→${betaMax})`, f: beta.mul(-0.5), g: g2.sqrt(), T })
}
