/**
 * Parameter initialisation on the host, deterministic from (seed, parameter name): each parameter draws
 * its own uniform stream (rng.ts's `draws`) keyed by a hash of its name, so adding or reordering
 * parameters never changes the values of the others, and any parameter can be re-drawn alone.
 */
import { draws } from "../compile/rng.ts"
import { sizeOf } from "../ir/shape.ts"
import type { FanMode, Init } from "./initializer.ts"
import type { ParamDecls } from "./module.ts"

export { onesInit, referenceInit, varianceScaling, zerosInit } from "./initializer.ts"
export type { FanMode, Init } from "./initializer.ts"

/**
 * PyTorch's fans of a weight [out, in, ...kernel]: fan_in = in·∏kernel, fan_out = out·∏kernel
 * (`torch.nn.init._calculate_fan_in_and_fan_out`).
 */
export const fans = (shape: readonly number[]): { fanIn: number; fanOut: number } => {
  if (shape.length < 2) return { fanIn: shape[0] ?? 1, fanOut: shape[0] ?? 1 }
  const receptive = sizeOf(shape.slice(2))
  return { fanIn: shape[1]! * receptive, fanOut: shape[0]! * receptive }
}

/** The half-width b of U(−b, b) that a variance-scaling init uses for a weight of `shape`. */
export const varianceScalingBound = (shape: readonly number[], scale: number, mode: FanMode): number => {
  const { fanIn, fanOut } = fans(shape)
  const fan = mode === "fan_in" ? fanIn : mode === "fan_out" ? fanOut : (fanIn + fanOut) / 2
  return Math.sqrt((3 * scale) / Math.max(1, fan))
}

/** FNV-1a of a parameter name: the salt of its random stream. */
const nameSalt = (name: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0
  return h
}

/** n draws from U(−bound, bound): the uniform stream of `draws`, as a kernel would draw it. */
const uniformDraws = (n: number, bound: number, seed: number, salt: number): Float32Array =>
  Float32Array.from({ length: n }, (_, i) => (2 * draws.uniform(seed, salt, 0, i) - 1) * bound)

/** The initial value of one parameter. */
export const initialValue = (name: string, shape: readonly number[], init: Init, seed: number): Float32Array => {
  const n = sizeOf(shape)
  switch (init.kind) {
    case "zeros": return new Float32Array(n)
    case "ones": return new Float32Array(n).fill(1)
    case "uniform": return uniformDraws(n, init.bound, seed, nameSalt(name))
    case "varianceScaling": return uniformDraws(n, varianceScalingBound(shape, init.scale, init.mode), seed, nameSalt(name))
  }
}

/** Initial values of every declared parameter, in declaration order. */
export const initParams = (layer: { readonly params: ParamDecls }, seed: number): Record<string, Float32Array> =>
  Object.fromEntries(Object.entries(layer.params).map(([name, d]) => [name, initialValue(name, d.shape, d.init, seed)]))
