/** The variance-exploding SDE: σ(t) = σ_min(σ_max/σ_min)^t, no drift. */
import { constant, t } from "../time/index.ts"
import { checkHorizon, linearSde } from "../sde.ts"

export const ve = ({ sigmaMin = 0.01, sigmaMax = 50, T = 1 } = {}) => {
  checkHorizon(T) // before 1/T enters an expression, so a bad T is reported as such
  const logRatio = Math.log(sigmaMax / sigmaMin)
  // g(t) = d σ²/dt ^ ½ = σ_min·(σ_max/σ_min)^t·√(2 log(σ_max/σ_min)).
  const g = t.mul(logRatio / T).exp().mul(sigmaMin * Math.sqrt((2 * logRatio) / T))
  return linearSde({ name: `ve(σ ${sigmaMin}→${sigmaMax})`, f: constant(0), g, T })
}
