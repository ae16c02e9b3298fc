/**
 * Initialisers as data: how one parameter starts. A layer declares one next to each parameter's shape
 * (`module.ts`); `init.ts` draws the values.
 */

/** Which fan a variance-scaling initialiser divides by (as TensorFlow's `variance_scaling`). */
export type FanMode = "fan_in" | "fan_out" | "fan_avg"

/** How one parameter starts. */
export type Init =
  | { readonly kind: "zeros" }
  | { readonly kind: "ones" }
  /** U(−b, b) with b = √(3·scale / fan): variance scale / fan. */
  | { readonly kind: "varianceScaling"; readonly scale: number; readonly mode: FanMode }
  /** U(−bound, bound), e.g. PyTorch's default `nn.Linear` init with bound 1/√fan_in. */
  | { readonly kind: "uniform"; readonly bound: number }

/** All zeros (biases, GroupNorm shift). */
export const zerosInit: Init = { kind: "zeros" }
/** All ones (GroupNorm scale). */
export const onesInit: Init = { kind: "ones" }
/** Variance-scaling uniform initialiser. */
export const varianceScaling = (scale: number, mode: FanMode): Init => ({ kind: "varianceScaling", scale, mode })

/**
 * The init of sdeflow-light's `dense`/`conv2d` helpers (`variance_scaling_init_`): uniform variance
 * scaling that asks for "fan_avg" — but its `_calculate_correct_fan` returns fan_out for any mode other
 * than fan_in, so the weights it actually produces have variance scale / fan_out. We reproduce what the
 * reference computes, not what it names. Scale 0 becomes 1e-10, as there ("zero" output layers).
 */
export const referenceInit = (scale: number): Init => varianceScaling(scale === 0 ? 1e-10 : scale, "fan_out")
