/** Test support: the tiny 2-D training problem the training tests share (fast enough for lavapipe). */
import { mlp } from "../../src/nn/mlp.ts"
import { toySample } from "../../src/data/toy.ts"
import type { TrainSpec } from "../../src/train/programs.ts"
import { vp } from "../../dsl/library/index.ts"

/** VP and DSM on the swiss roll with an MLP [16, 16], batch 32; the tight clip (0.05) is active from the first step. */
export const tinySpec = (): TrainSpec => ({
  sde: vp(),
  network: mlp({ dataDim: 2, hidden: [16, 16] }),
  parameterisation: "a",
  objective: { kind: "dsm", options: {} },
  batch: 32,
  sampleShape: [2],
  data: { kind: "device", sample: (n) => toySample("swissroll", n) },
  warmup: 10,
  gradClip: 0.05,
  emaDecay: 0.99,
})
