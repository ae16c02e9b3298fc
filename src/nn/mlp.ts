/** A time-conditioned multilayer perceptron for low-dimensional data (the toy-density score network). */
import { concat, type Tensor } from "../ir/tensor.ts"
import { programError } from "../ir/errors.ts"
import { dense } from "./dense.ts"
import { mergeParams, qualify, type Layer } from "./module.ts"

/** Sizes of the time-conditioned MLP. */
export interface MlpConfig {
  /** Dimension of x and of the output. */
  readonly dataDim: number
  /** Hidden widths (default [128, 128, 128]); SiLU after each hidden layer. */
  readonly hidden?: readonly number[]
  /** Feed t as one extra input feature (default true); otherwise t is ignored. */
  readonly timeInput?: boolean
  /** Parameter name prefix (default "main": `main.0.weight`, `main.2.weight`, … as an `nn.Sequential`). */
  readonly prefix?: string
}

/**
 * (x [N, dataDim], t [N] or scalar) → [N, dataDim]: dense layers on concat(x, t) with SiLU between them.
 * Weights and biases start as PyTorch's default `nn.Linear` init, U(±1/√fan_in), since a PyTorch twin
 * of this network would use plain `nn.Linear` layers.
 */
export const mlp = (config: MlpConfig): Layer<[Tensor, Tensor]> => {
  const hidden = config.hidden ?? [128, 128, 128]
  const timeInput = config.timeInput ?? true
  const prefix = config.prefix ?? "main"
  const widths = [config.dataDim + (timeInput ? 1 : 0), ...hidden, config.dataDim]
  // Sequential indices skip the activations: Linear at 0, 2, 4, …
  const layers = widths.slice(1).map((out, i) => {
    const bound = { kind: "uniform", bound: 1 / Math.sqrt(widths[i]!) } as const
    return dense(qualify(prefix, String(2 * i)), widths[i]!, out, { weightInit: bound, biasInit: bound })
  })
  return {
    params: mergeParams(...layers.map((l) => l.params)),
    apply: (params, x, t) => {
      if (x.rank !== 2 || x.shape[1] !== config.dataDim) throw programError("mlp", `expects x [N, ${config.dataDim}], got [${x.shape.join(", ")}]`)
      const batch = x.shape[0]!
      const time = timeInput ? (t.rank === 0 ? t.broadcastTo([batch]) : t).reshape([batch, 1]) : undefined
      let h = time ? concat([x, time], 1) : x
      layers.forEach((layer, i) => {
        h = layer.apply(params, h)
        if (i < layers.length - 1) h = h.silu()
      })
      return h
    },
  }
}
