/** The variance-preserving SDE (DDPM's continuous limit): β(t) linear from β_min to β_max. */
import { lerp, t } from "../time/index.ts"
import { checkHorizon, linearSde } from "../sde.ts"

export const vp = ({ betaMin = 0.1, betaMax = 20, T = 1 } = {}) => {
  checkHorizon(T) // before 1/T enters an expression, so a bad T is reported as such
  const beta = lerp(betaMin, betaMax, t.mul(1 / T))
  return linearSde({ name: `vp(β ${betaMin}→${betaMax})`, f: beta.mul(-0.5), g: beta.sqrt(), T })
}
