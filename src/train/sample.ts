/**
 * Sampling a trained model: the solver chosen by name, the plug-in reverse SDE with the chosen λ, and the
 * samples drawn as a PNG (an image grid, or a scatter for 2-D toy data). Shared by `sdeflow sample` and
 * the examples; pure apart from the device work inside `generate`.
 */
import type { Tensor } from "../ir/tensor.ts"
import type { Layer } from "../nn/module.ts"
import type { GpuHandle } from "../runtime/gpu.ts"
import { imageGrid, scatterPlot } from "../io/png-grid.ts"
import { logitToUnit } from "../data/image-transforms.ts"
import type { LinearSde } from "../../dsl/sde.ts"
import { pluginReverse } from "../../dsl/reverse.ts"
import { solve, type Solution } from "../../dsl/solve.ts"
import { adaptive, eulerMaruyama, heun, predictorCorrector, rk4, sra1, type Solver } from "../../dsl/solvers.ts"
import { driftModel, paramInputs, type Parameterisation } from "./programs.ts"

/** A trained network with the SDE it was trained for and the weights to use (usually the EMA). */
export interface TrainedModel {
  readonly sde: LinearSde
  readonly network: Layer<[Tensor, Tensor]>
  readonly parameterisation: Parameterisation
  /** Parameter values by state_dict name. */
  readonly weights: Readonly<Record<string, Float32Array>>
  /** Shape of one sample: [2] for toy data, [3, 32, 32] for CIFAR-10 (in logit space). */
  readonly sampleShape: readonly number[]
}

/** Solver names as the command line spells them. */
export const solverNames = ["em", "pc", "sra1", "heun", "rk4", "adaptive"] as const
export type SolverName = (typeof solverNames)[number]

/** Solvers that integrate the probability-flow ODE only (they need λ = 1). */
export const odeSolverNames: ReadonlySet<SolverName> = new Set(["heun", "rk4", "adaptive"])

/** The solver value of a command-line name. */
export const solverFor = (name: SolverName): Solver => {
  switch (name) {
    case "em":
      return eulerMaruyama()
    case "pc":
      return predictorCorrector()
    case "sra1":
      return sra1()
    case "heun":
      return heun()
    case "rk4":
      return rk4()
    case "adaptive":
      return adaptive()
  }
}

/** λ when none is given: the ODE for ODE solvers, the reverse SDE otherwise. */
export const defaultLambda = (name: SolverName): number => (odeSolverNames.has(name) ? 1 : 0)

export interface GenerateOptions {
  readonly backend: GpuHandle | "cpu"
  readonly count: number
  /** Fixed steps, or the adaptive solver's first guess. */
  readonly steps: number
  readonly solver: SolverName
  readonly lambda: number
  readonly seed: number
  /** Where generation stops (the training cut-off ε). */
  readonly eps: number
}

/** `count` samples [count, …sampleShape] from the prior at T down to ε. */
export const generate = (model: TrainedModel, options: GenerateOptions): Promise<Solution> => {
  const drift = driftModel(model.network, paramInputs(model.network), model.parameterisation)
  const reverse = pluginReverse(model.sde, drift, { lambda: options.lambda })
  return solve(reverse, solverFor(options.solver), {
    backend: options.backend,
    shape: [options.count, ...model.sampleShape],
    steps: options.steps,
    seed: options.seed,
    inputs: model.weights,
    t1: options.eps,
  })
}

/** Samples as a PNG: toy points as a blue scatter (optionally over grey reference data), images as a grid. */
export const samplesPng = (sampleShape: readonly number[], samples: ArrayLike<number>, count: number, reference?: ArrayLike<number>): Uint8Array => {
  if (sampleShape.length === 1 && sampleShape[0] === 2)
    return scatterPlot([...(reference ? [{ points: reference, rgb: [170, 170, 170] as const }] : []), { points: samples, rgb: [31, 119, 180] }])
  if (sampleShape.length === 3) {
    const [c, h, w] = sampleShape as [number, number, number]
    return imageGrid(logitToUnit(samples), count, c, h, w)
  }
  throw new Error(`no picture for samples of shape [${sampleShape.join(", ")}]`)
}
