/** The sub-VP SDE (Song et al. 2021): VP's drift, diffusion scaled by 1 − e^{−2∫β}. */
import { lerp, t } from "../time/index.ts"
import { checkHorizon, linearSde } from "../sde.ts"

export const subvp = ({ betaMin = 0.1, betaMax = 20, T = 1 } = {}) => {
  checkHorizon(T) // before 1/T enters an expression, so a bad T is reported as such
  const beta = lerp(betaMin, betaMax, t.mul(1 / T))
  const integral = t.mul(betaMin).add(t.square().mul((betaMax - betaMin) / (2 * T)))
  const g2 = beta.mul(integral.mul(-2).exp().neg().add(1))
  return linearSde({ name: `subvp(β ${betaMin}→${betaMax})`, f: beta.mul(-0.5), g: g2.sqrt(), T })
}
