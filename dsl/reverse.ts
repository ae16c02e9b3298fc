/**
 * The plug-in reverse SDE (Huang, Lim, Courville 2021): a generative SDE whose drift is built from a
 * learned a(x, t). In forward time t (solvers step with dt < 0, so time simply runs backwards):
 *   dx = [f(x, t) − (1 − λ/2)·g(t)·a(x, t)] dt + √(1 − λ)·g(t) dW̄,
 * i.e. the paper's μ_λ = (1 − λ/2)·g·a − f, σ_λ = √(1 − λ)·g in reversed time s = T − t.
 * λ = 0 is the reverse SDE, λ = 1 the probability-flow ODE. With the score parameterisation a = g·s.
 */
import { zeros, type Tensor } from "../src/ir/tensor.ts"
import { checkKeys, invalid } from "./errors.ts"
import type { Sde } from "./general-sde.ts"
import { diffusion, drift, priorSample, type LinearSde } from "./sde.ts"

/**
 * ε: the default end time of generation — the marginal at ε, where the score is still well-defined —
 * and the smallest ε that training and evaluation give importance-sampled time (`importanceTime`),
 * whose density q(t) ∝ g²/v is held flat below ε instead of growing without bound.
 */
export const DEFAULT_END_TIME = 1e-3

/** The learned term: a(x, t) directly (the paper's drift parameterisation) or the score s(x, t). */
export type DriftModel =
  | { readonly a: (x: Tensor, t: Tensor) => Tensor }
  | { readonly score: (x: Tensor, t: Tensor) => Tensor }

/** A plug-in reverse SDE is an SDE like any other (solved from T to ε by default), that also knows its parts. */
export interface ReverseSde extends Sde<Tensor> {
  readonly sde: LinearSde
  readonly model: DriftModel
  readonly lambda: number
}

/** a(x, t) of either parameterisation. */
export const aOf = (sde: LinearSde, model: DriftModel, x: Tensor, t: Tensor): Tensor =>
  "a" in model ? model.a(x, t) : diffusion(sde, x, t).mul(model.score(x, t))

/** A model is `{ a }` or `{ score }`, each a function (x, t) => tensor: anything else is named before tracing. */
export const checkDriftModel = (model: DriftModel): void => {
  const m = model as unknown as Record<string, unknown> | undefined
  const given = m && typeof m === "object" ? Object.keys(m) : []
  if (m && typeof m === "object" && (typeof m.a === "function" || typeof m.score === "function")) return
  throw invalid("model", given.length ? `{ ${given.join(", ")} }` : m, "a model is { a: (x, t) => tensor } or { score: (x, t) => tensor }")
}

/** s(x, t) = a/g of either parameterisation. */
export const scoreOf = (sde: LinearSde, model: DriftModel, x: Tensor, t: Tensor): Tensor =>
  "score" in model ? model.score(x, t) : model.a(x, t).div(diffusion(sde, x, t))

/** The λ-family of generative SDEs sharing the marginals of `sde` when a is the true a. */
export const pluginReverse = (sde: LinearSde, model: DriftModel, options: { lambda?: number } = {}): ReverseSde => {
  checkKeys("pluginReverse", options, { lambda: true })
  checkDriftModel(model)
  const lambda = options.lambda ?? 0
  if (!(lambda >= 0 && lambda <= 1)) throw invalid("lambda", lambda, "λ must lie in [0, 1] (0: reverse SDE, 1: probability-flow ODE)")
  const rev = { sde, model, lambda }
  return {
    ...rev,
    kind: "sde",
    name: `pluginReverse(${sde.name}, λ = ${lambda})`,
    drift: (x, t) => reverseDrift(rev, x, t),
    // λ = 1 is an ODE: a literal zero, so the structure analysis sees it and ODE solvers accept it.
    diffusion: (x, t) => (lambda === 1 ? zeros(x.shape) : reverseDiffusion(rev, x, t)),
    noise: "diagonal",
    calculus: "ito",
    T: sde.T,
    span: [sde.T, DEFAULT_END_TIME],
    prior: (shape) => priorSample(sde, shape as readonly number[]),
    score: (x, t) => scoreOf(sde, model, x, t),
  }
}

/** The probability-flow ODE (λ = 1). */
export const probabilityFlow = (sde: LinearSde, model: DriftModel): ReverseSde => pluginReverse(sde, model, { lambda: 1 })

/** Drift of the generative process in forward time: f − (1 − λ/2)·g·a. */
export const reverseDrift = (rev: Pick<ReverseSde, "sde" | "model" | "lambda">, x: Tensor, t: Tensor): Tensor =>
  drift(rev.sde, x, t).sub(diffusion(rev.sde, x, t).mul(aOf(rev.sde, rev.model, x, t)).mul(1 - rev.lambda / 2))

/** Diffusion of the generative process: √(1 − λ)·g(t). */
export const reverseDiffusion = (rev: Pick<ReverseSde, "sde" | "lambda">, x: Tensor, t: Tensor): Tensor =>
  diffusion(rev.sde, x, t).mul(Math.sqrt(1 - rev.lambda))
