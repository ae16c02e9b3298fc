/** The network and SDE a training configuration describes (portable: the browser page builds them from a checkpoint's config). */
import type { Tensor } from "../ir/tensor.ts"
import { unet } from "../nn/unet.ts"
import { mlp } from "../nn/mlp.ts"
import type { Layer } from "../nn/module.ts"
import { vp, subvp, ve } from "../../dsl/library/index.ts"
import type { LinearSde } from "../../dsl/sde.ts"
import type { TrainConfig } from "./config.ts"

/** The score network of `config`: the DDPM UNet for images, the MLP for 2-D data. */
export const networkFor = (config: TrainConfig): Layer<[Tensor, Tensor]> =>
  config.dataset === "cifar10"
    ? unet({ inputChannels: 3, inputHeight: 32, ch: config.ch, chMult: config.chMult, numResBlocks: config.numResBlocks, attnResolutions: config.attnResolutions })
    : mlp({ dataDim: 2, hidden: config.hidden })

/** The SDE of `config`, with the library's default schedule. */
export const sdeFor = (config: TrainConfig): LinearSde => ({ vp, subvp, ve })[config.sde]()
