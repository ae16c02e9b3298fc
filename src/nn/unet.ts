/**
 * The DDPM UNet (Ho et al. 2020) as sdeflow-light builds it (`lib/models/unet.py`), parameter for
 * parameter: same state_dict names, shapes and order, same forward pass, same initialisation.
 */
import { concat, type Tensor } from "../ir/tensor.ts"
import { programError } from "../ir/errors.ts"
import { selfAttention } from "./attention.ts"
import { conv2dLayer } from "./conv.ts"
import { groupNorm } from "./group-norm.ts"
import { mergeParams, type Layer, type ParamDecls, type Params } from "./module.ts"
import { downsample, upsample } from "./resample.ts"
import { residualBlock } from "./res-block.ts"
import { timestepEmbedding } from "./timestep.ts"

/** The reference constructor's arguments, camel-cased. */
export interface UNetConfig {
  readonly inputChannels: number
  /** Height of the training images; attention is placed by resolution, so the forward requires it. */
  readonly inputHeight: number
  /** Base channel count; the timestep embedding has 4·ch channels. */
  readonly ch: number
  /** Default: inputChannels. */
  readonly outputChannels?: number
  /** Channel multiplier per resolution level (default [1, 2, 4, 8]). */
  readonly chMult?: readonly number[]
  /** Residual blocks per level on the way down (one more on the way up). Default 2. */
  readonly numResBlocks?: number
  /** Resolutions (feature-map heights) that get a self-attention block after each residual block. Default [16]. */
  readonly attnResolutions?: readonly number[]
  /** Only 0 is supported for now (the paper's configs use 0); anything else throws rather than being ignored. */
  readonly dropout?: number
  /** Strided-conv downsampling and conv after upsampling (default true); otherwise average pooling / plain nearest. */
  readonly resampWithConv?: boolean
}

/** A residual block, then self-attention when the block's resolution is in `attnResolutions`. */
interface Stage {
  readonly block: Layer<[Tensor, Tensor]>
  readonly attention?: Layer<[Tensor]>
}

/** One resolution level: its stages, then an optional resampling (down on the way down, up on the way up). */
interface Level {
  readonly stages: readonly Stage[]
  readonly resample?: Layer<[Tensor]>
}

/** The network: x [N, C, H, W] and t [N] (or a scalar t shared by the batch) → [N, outputChannels, H, W]. */
export interface UNet extends Layer<[Tensor, Tensor]> {
  readonly config: Required<UNetConfig>
}

const withDefaults = (config: UNetConfig): Required<UNetConfig> => ({
  inputChannels: config.inputChannels,
  inputHeight: config.inputHeight,
  ch: config.ch,
  outputChannels: config.outputChannels ?? config.inputChannels,
  chMult: config.chMult ?? [1, 2, 4, 8],
  numResBlocks: config.numResBlocks ?? 2,
  attnResolutions: config.attnResolutions ?? [16],
  dropout: config.dropout ?? 0,
  resampWithConv: config.resampWithConv ?? true,
})

const stageParams = (levels: readonly Level[]): ParamDecls[] =>
  levels.flatMap((level) => [...level.stages.flatMap((s) => [s.block.params, s.attention?.params ?? {}]), level.resample?.params ?? {}])

/** Builds the UNet of `config`; its parameter table equals the reference model's `state_dict()`. */
export const unet = (options: UNetConfig): UNet => {
  const config = withDefaults(options)
  const { inputChannels, inputHeight, ch, outputChannels, chMult, numResBlocks, attnResolutions, resampWithConv } = config
  const levelCount = chMult.length
  if (config.dropout !== 0) throw programError("unet", `dropout ${config.dropout} is not supported yet; use 0 (the paper's setting)`)
  if (levelCount === 0 || inputHeight % 2 ** (levelCount - 1) !== 0)
    throw programError("unet", `input height ${inputHeight} is not divisible by 2^${levelCount - 1} (${levelCount} resolution levels)`)

  const tembChannels = ch * 4
  const tembNet = timestepEmbedding("temb_net", ch, tembChannels, tembChannels)
  const beginConv = conv2dLayer("begin_conv", inputChannels, ch)

  // Channel counts of the skip connections, pushed on the way down and popped on the way up.
  const skipChannels = [ch]
  let height = inputHeight
  let channels = ch
  const down: Level[] = chMult.map((mult, level) => {
    const out = ch * mult
    const stages = Array.from({ length: numResBlocks }, (_, i): Stage => {
      const block = residualBlock(`down_modules.${level}.${level}a_${i}a_block`, channels, tembChannels, out)
      const attention = attnResolutions.includes(height) ? selfAttention(`down_modules.${level}.${level}a_${i}b_attn`, out) : undefined
      skipChannels.push(out)
      channels = out
      return { block, attention }
    })
    if (level === levelCount - 1) return { stages }
    const resample = downsample(`down_modules.${level}.${level}b_downsample`, out, resampWithConv)
    height /= 2
    skipChannels.push(out)
    return { stages, resample }
  })

  const middle: Stage[] = [
    { block: residualBlock("mid_modules.0", channels, tembChannels, channels), attention: selfAttention("mid_modules.1", channels) },
    { block: residualBlock("mid_modules.2", channels, tembChannels, channels) },
  ]

  const up: Level[] = chMult.map((_, index) => {
    const level = levelCount - 1 - index
    const out = ch * chMult[level]!
    const stages = Array.from({ length: numResBlocks + 1 }, (_, i): Stage => {
      const block = residualBlock(`up_modules.${index}.${level}a_${i}a_block`, channels + skipChannels.pop()!, tembChannels, out)
      const attention = attnResolutions.includes(height) ? selfAttention(`up_modules.${index}.${level}a_${i}b_attn`, out) : undefined
      channels = out
      return { block, attention }
    })
    if (level === 0) return { stages }
    height *= 2
    return { stages, resample: upsample(`up_modules.${index}.${level}b_upsample`, out, resampWithConv) }
  })

  const endNorm = groupNorm("end_conv.0", channels)
  const endConv = conv2dLayer("end_conv.2", channels, outputChannels, { initScale: 0 })

  const params = mergeParams(
    tembNet.params,
    beginConv.params,
    ...stageParams(down),
    ...middle.flatMap((s) => [s.block.params, s.attention?.params ?? {}]),
    ...stageParams(up),
    endNorm.params,
    endConv.params,
  )

  const runStage = (p: Params, stage: Stage, h: Tensor, temb: Tensor): Tensor => {
    const out = stage.block.apply(p, h, temb)
    return stage.attention ? stage.attention.apply(p, out) : out
  }

  const apply: UNet["apply"] = (p, x, t) => {
    if (x.rank !== 4 || x.shape[1] !== inputChannels || x.shape[2] !== inputHeight)
      throw programError("unet", `expects x [N, ${inputChannels}, ${inputHeight}, W], got [${x.shape.join(", ")}]`)
    const batch = x.shape[0]!
    const times = t.rank === 0 ? t.broadcastTo([batch]) : t
    if (times.rank !== 1 || times.shape[0] !== batch) throw programError("unet", `expects t [${batch}] or a scalar, got [${t.shape.join(", ")}]`)
    const temb = tembNet.apply(p, times)

    const skips = [beginConv.apply(p, x)]
    for (const level of down) {
      for (const stage of level.stages) skips.push(runStage(p, stage, skips.at(-1)!, temb))
      if (level.resample) skips.push(level.resample.apply(p, skips.at(-1)!))
    }
    let h = skips.at(-1)!
    for (const stage of middle) h = runStage(p, stage, h, temb)
    for (const level of up) {
      for (const stage of level.stages) h = runStage(p, stage, concat([h, skips.pop()!], 1), temb)
      if (level.resample) h = level.resample.apply(p, h)
    }
    return endConv.apply(p, endNorm.apply(p, h).silu())
  }

  return { config, params, apply }
}
