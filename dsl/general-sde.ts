/**
 * General SDEs as values: dX = μ(X, t) dt + σ(X, t) ∘? dW, with μ and σ written as tensor functions.
 *   - The state is a tensor or a record of tensors; drift returns the same structure.
 *   - Diagonal noise (the default): σ returns, per field, a tensor that broadcasts to the field's shape
 *     (a scalar g(t) is additive noise); a field the diffusion leaves out gets no noise.
 *   - General noise: for a tensor state [N, D], σ returns [N, D, m], driven by m Brownian motions.
 * Itô by default; `calculus: "stratonovich"` declares a Stratonovich SDE. Nothing about the structure
 * (additive? diagonal? zero?) is declared: `analyseSde` reads it from the traced expressions.
 */
import { constant, Tensor, zeros, type TensorLike } from "../src/ir/tensor.ts"
import { checkKeys, invalid } from "./errors.ts"
import { checkHorizon } from "./sde.ts"
import { fieldsOf, stateLike, type Fields, type ShapeOf, type State } from "./state.ts"

export type Noise = "diagonal" | { readonly kind: "general"; readonly brownian: number }
export type Calculus = "ito" | "stratonovich"

/** What a diffusion returns for a record state: a coefficient per noisy field (numbers allowed). */
export type DiffusionOf<S extends State> = S extends Tensor ? TensorLike : { readonly [K in keyof S]?: TensorLike }

export interface Sde<S extends State = Tensor> {
  readonly kind: "sde"
  readonly name: string
  readonly drift: (x: S, t: Tensor) => S
  readonly diffusion: (x: S, t: Tensor) => DiffusionOf<S>
  readonly noise: Noise
  readonly calculus: Calculus
  /** Time horizon. */
  readonly T: number
  /** Default [t0, t1] of `solve`: [0, T] for a forward SDE, [T, ε] for a generative reverse one. */
  readonly span: readonly [number, number]
  /** Default start state of `solve` (a draw of the prior); without it `solve` needs `x0`. */
  readonly prior?: (shape: ShapeOf<S>) => S
  /** ∇ log p_t of the process's marginals, when known or learned: what a Langevin corrector needs. */
  readonly score?: (x: S, t: Tensor) => S
}

export interface SdeSpec<S extends State> {
  readonly name?: string
  readonly drift: (x: S, t: Tensor) => S
  /** NoInfer: the state type comes from the drift (a diffusion returning a number says nothing of it). */
  readonly diffusion: (x: S, t: Tensor) => NoInfer<DiffusionOf<S>>
  readonly noise?: Noise
  readonly calculus?: Calculus
  readonly T?: number
  readonly prior?: (shape: ShapeOf<S>) => S
  readonly score?: (x: S, t: Tensor) => S
}

const checkNoise = (noise: Noise): Noise => {
  if (noise === "diagonal") return noise
  if (typeof noise === "object" && noise !== null && noise.kind === "general" && Number.isInteger(noise.brownian) && noise.brownian >= 1) return noise
  throw invalid("noise", noise, `noise is "diagonal" or { kind: "general", brownian: m } with a whole m ≥ 1`)
}

/** dX = drift(X, t) dt + diffusion(X, t) dW on [0, T]. */
export const sde = <S extends State = Tensor>(spec: SdeSpec<S>): Sde<S> => {
  checkKeys<SdeSpec<S>>("sde", spec, { name: true, drift: true, diffusion: true, noise: true, calculus: true, T: true, prior: true, score: true })
  if (typeof spec.drift !== "function") throw invalid("drift", typeof spec.drift, "drift is a function (x, t) => state")
  if (typeof spec.diffusion !== "function") throw invalid("diffusion", typeof spec.diffusion, "diffusion is a function (x, t) => tensor")
  const calculus = spec.calculus ?? "ito"
  if (calculus !== "ito" && calculus !== "stratonovich") throw invalid("calculus", calculus, `calculus is "ito" or "stratonovich"`)
  const T = checkHorizon(spec.T ?? 1)
  return {
    kind: "sde",
    name: spec.name ?? "sde",
    drift: spec.drift,
    diffusion: spec.diffusion,
    noise: checkNoise(spec.noise ?? "diagonal"),
    calculus,
    T,
    span: [0, T],
    prior: spec.prior,
    score: spec.score,
  }
}

/** The drift as fields, each checked to have its field's shape. */
export const driftFields = <S extends State>(process: Sde<S>, x: Fields, like: S | ShapeOf<S>, t: Tensor): Fields => {
  const out = fieldsOf(process.drift(stateLike(like, x), t), "drift(x, t)")
  for (const [name, value] of Object.entries(x)) {
    const f = out[name]
    if (!f) throw invalid(`drift(x, t).${name}`, undefined, `the drift returns no value for the state's field "${name}"`)
    if (f.shape.join() !== value.shape.join()) throw invalid(`drift(x, t).${name}`, f.shape, `the drift must have the state's shape [${value.shape.join(", ")}]`)
  }
  return out
}

/**
 * The diffusion as fields. Diagonal noise: each field's coefficient broadcast to the field's shape
 * (missing fields: zero). General noise: the one field's [N, D, m] matrix.
 */
export const diffusionFields = <S extends State>(process: Sde<S>, x: Fields, like: S | ShapeOf<S>, t: Tensor): Fields => {
  const raw = process.diffusion(stateLike(like, x), t) as TensorLike | Readonly<Record<string, TensorLike | undefined>>
  const asTensor = (v: TensorLike) => (typeof v === "number" ? constant(v) : v)
  const names = Object.keys(x)
  const byField: Record<string, TensorLike | undefined> =
    typeof raw === "number" || raw instanceof Tensor ? { [names[0]!]: raw } : (raw as Record<string, TensorLike | undefined>)
  if (typeof raw === "object" && !(raw instanceof Tensor) && names.length === 1 && !(names[0]! in byField) && Object.keys(byField).length > 0)
    throw invalid("diffusion(x, t)", Object.keys(byField), "a tensor state's diffusion is a tensor, not a record")
  for (const key of Object.keys(byField))
    if (!names.includes(key)) throw invalid(`diffusion(x, t).${key}`, key, `the state has no field "${key}" (fields: ${names.join(", ")})`)
  if (process.noise !== "diagonal") {
    const [name] = names
    if (names.length !== 1) throw invalid("noise", process.noise, "general noise needs a tensor state [N, D]")
    const state = x[name!]!
    const g = asTensor(byField[name!] ?? 0)
    const expected = [...state.shape, process.noise.brownian]
    if (state.rank !== 2) throw invalid("noise", process.noise, `general noise needs a state of shape [N, D], not [${state.shape.join(", ")}]`)
    if (g.shape.join() !== expected.join())
      throw invalid("diffusion(x, t)", g.shape, `general noise with ${process.noise.brownian} Brownian motions needs a diffusion of shape [${expected.join(", ")}]`)
    return { [name!]: g }
  }
  return Object.fromEntries(
    names.map((name) => {
      const state = x[name]!
      const g = byField[name]
      if (g === undefined) return [name, zeros(state.shape)]
      const coefficient = asTensor(g)
      try {
        return [name, coefficient.broadcastTo(state.shape)]
      } catch {
        throw invalid(`diffusion(x, t)${names.length > 1 || name !== "x" ? `.${name}` : ""}`, coefficient.shape, `diagonal noise needs a coefficient that broadcasts to the state's shape [${state.shape.join(", ")}]`)
      }
    }),
  )
}
