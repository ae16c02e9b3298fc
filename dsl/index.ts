/**
 * The SDE DSL: time expressions, SDEs as values, the plug-in reverse SDE, objectives, solvers, likelihoods.
 * @module
 */
import * as time from "./time/index.ts"

export { time }
export type { TimeExpr } from "./time/index.ts"

export { linearSde, coefficient, drift, diffusion, driftDivergence, perturb, priorSample, priorLogDensity } from "./sde.ts"
export type { LinearSde, LinearSdeSpec } from "./sde.ts"
export { vp, subvp, ve } from "./library/index.ts"
export { timeToTensor } from "./lower-time.ts"
export { importanceSampler, importanceTime, sampleTimes, uniformTime } from "./importance.ts"
export type { TimeSampling } from "./importance.ts"
export { sde } from "./general-sde.ts"
export type { Sde, SdeSpec, Noise, Calculus, DiffusionOf } from "./general-sde.ts"
export type { State, ShapeOf, FieldsOf } from "./state.ts"
/** A state's tensors by field name (a plain tensor state is the one field "x"). */
export type { Fields } from "./state.ts"
export { analyseSde } from "./structure.ts"
export type { SdeStructure } from "./structure.ts"
export { aOf, scoreOf, pluginReverse, probabilityFlow, reverseDrift, reverseDiffusion } from "./reverse.ts"
export type { DriftModel, ReverseSde } from "./reverse.ts"
export { dsm, elbo, hutchinson, bitsPerDim } from "./objectives.ts"
export type { DsmOptions, ElboOptions } from "./objectives.ts"
export { adaptive, auto, chooseSolver, eulerMaruyama, heun, milstein, predictorCorrector, rk4, sra1, stochasticHeun, step } from "./solvers.ts"
export type { Solver, StepResult } from "./solvers.ts"
/** Options of `step`: the Brownian increments as sums over sub-steps. */
export type { StepOptions } from "./solvers.ts"
export { solve } from "./solve.ts"
export type { SolveOptions, Solution, HostValues } from "./solve.ts"
export { probabilityFlowLikelihood } from "./likelihood.ts"
/** Options of `probabilityFlowLikelihood`: backend, data shape, solver settings. */
export type { LikelihoodOptions } from "./likelihood.ts"
export { generalElbo, generalElboStep, exactDivergence } from "./general-elbo.ts"
export type { GenerativeSde, GeneralElboOptions } from "./general-elbo.ts"
export { InvalidOption } from "./errors.ts"
