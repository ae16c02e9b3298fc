/** Sinusoidal timestep features (Vaswani et al. 2017, as DDPM uses them) and the MLP that embeds them. */
import { concat, tensorData, type Tensor } from "../ir/tensor.ts"
import { programError } from "../ir/errors.ts"
import { dense } from "./dense.ts"
import { mergeParams, qualify, type Layer } from "./module.ts"

/** [0, 1, …, n−1] as a table baked into the program: no kernel computes it. */
export const arange = (n: number): Tensor => {
  if (!Number.isInteger(n) || n < 1) throw programError("arange", `length must be a positive integer, got ${n}`)
  return tensorData(Array.from({ length: n }, (_, i) => i))
}

/**
 * t [N] → [N, dim]: [sin(t·ω₀), …, sin(t·ω_{h−1}), cos(t·ω₀), …, cos(t·ω_{h−1})] with h = ⌊dim/2⌋ and
 * ωᵢ = 10000^(−i/(h−1)), zero-padded by one column when dim is odd (DDPM's `get_timestep_embedding`).
 */
export const sinusoidalEmbedding = (t: Tensor, dim: number): Tensor => {
  if (t.rank !== 1) throw programError("sinusoidalEmbedding", `expects t of shape [N], got [${t.shape.join(", ")}]`)
  const half = Math.floor(dim / 2)
  if (half < 2) throw programError("sinusoidalEmbedding", `dim must be at least 4, got ${dim}`)
  const frequencies = arange(half).mul(-Math.log(10000) / (half - 1)).exp()
  const angles = t.reshape([-1, 1]).mul(frequencies.reshape([1, half]))
  const features = concat([angles.sin(), angles.cos()], 1)
  return dim % 2 === 1 ? features.pad([[0, 0], [0, 1]]) : features
}

/**
 * sdeflow-light's `TimestepEmbedding`: sinusoidal features of t [N] → dense → SiLU → dense → [N, out].
 * Parameters `${prefix}.main.0.*` and `${prefix}.main.2.*` (an `nn.Sequential` with the activation at 1).
 */
export const timestepEmbedding = (prefix: string, embeddingDim: number, hiddenDim: number, outputDim: number): Layer<[Tensor]> => {
  const first = dense(qualify(prefix, "main.0"), embeddingDim, hiddenDim)
  const second = dense(qualify(prefix, "main.2"), hiddenDim, outputDim)
  return {
    params: mergeParams(first.params, second.params),
    apply: (params, t) => second.apply(params, first.apply(params, sinusoidalEmbedding(t, embeddingDim)).silu()),
  }
}
