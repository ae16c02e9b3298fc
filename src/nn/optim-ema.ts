/**
 * Exponential moving average of weights, as sdeflow-light's `ExponentialMovingAverage.apply`:
 * ema ← ema − (1 − decay)(ema − param), written in that order because it rounds better than
 * decay·ema + (1 − decay)·param when decay is close to 1 (the update is a small correction).
 */
import type { Tensor, TensorLike } from "../ir/tensor.ts"
import { asTensor, checkSameParams, complement, type ParamTensors } from "./optim.ts"

/** The EMA after one update towards `params` (typically the freshly updated ones); `decay` e.g. 0.9999. */
export const emaUpdate = (ema: ParamTensors, params: ParamTensors, decay: TensorLike): Record<string, Tensor> => {
  checkSameParams("emaUpdate", params, { ema })
  const rate = asTensor(complement(decay))
  return Object.fromEntries(Object.keys(params).map((name) => [name, ema[name]!.sub(rate.mul(ema[name]!.sub(params[name]!)))]))
}
