/**
 * What the page does with sdeflow, apart from drawing: load a 2-D model from checkpoint bytes, sample it
 * with the plug-in reverse family (paths recorded for the animation), and train one live.
 */
import {
  checkpointConfig, checkpointWeights, compile, driftModel, eulerMaruyama, explain, heun, importanceTime, initParams, mlp, networkFor,
  packHost, paramInputs, paramLayout, pluginReverse, predictorCorrector, rk4, sdeFor, solve, step, toySample, trainStep, unpackHost, vp,
  type Executable, type GpuHandle, type Tensor, type TrainConfig, type TrainSpec,
} from "sdeflow/web"

/** A 2-D model: its network, SDE and weights (EMA weights of a checkpoint, or of live training). */
export interface Model {
  readonly network: ReturnType<typeof networkFor>
  readonly sde: ReturnType<typeof sdeFor>
  readonly weights: Record<string, Float32Array>
  readonly source: string
}

/** The page draws points in the plane: checkpoints of image models are refused with the reason. */
export const modelFromCheckpoint = (bytes: Uint8Array, name: string): Model => {
  const config = checkpointConfig(bytes, name) as Partial<TrainConfig>
  if (config.model !== "mlp" || config.dataset === "cifar10")
    throw new Error(`${name}: a checkpoint of a ${config.dataset ?? "unknown"} ${config.model ?? ""} model; this page samples 2-D models (sdeflow train --preset swissroll)`)
  const network = networkFor(config as TrainConfig)
  const shapes = Object.fromEntries(Object.entries(network.params).map(([n, d]) => [n, d.shape]))
  const { ema, step } = checkpointWeights(bytes, shapes, name)
  return { network, sde: sdeFor(config as TrainConfig), weights: ema, source: `${name} (step ${step}, ${config.sde} SDE, MLP ${(config.hidden ?? []).join("×")})` }
}

export const solvers = { em: eulerMaruyama, heun, rk4, pc: predictorCorrector } as const
export type SolverName = keyof typeof solvers

export interface SampleOptions {
  readonly lambda: number
  readonly solver: SolverName
  readonly steps: number
  readonly count: number
  readonly seed: number
  /** Snapshots of the paths for the animation (besides the end). */
  readonly frames: number
}

export interface Samples {
  /** The end points [count·2], then the path: one [count·2] array per frame, the last equal to the end. */
  readonly x: Float32Array
  readonly frames: readonly Float32Array[]
  readonly kernelsPerStep: number
  readonly msPerStep: number
}

/** Reverse-time paths from T to ε of the λ-family, on the page's device. */
export const sample = async (gpu: GpuHandle, model: Model, o: SampleOptions): Promise<Samples> => {
  // λ = 1 is an ODE: the Euler–Maruyama and PC choices fall back to Heun there, as the CLI does.
  const solver = o.lambda === 1 && (o.solver === "em" || o.solver === "pc") ? heun() : solvers[o.solver]()
  const rev = pluginReverse(model.sde, driftModel(model.network, paramInputs(model.network), "a"), { lambda: o.lambda })
  const [t0, t1] = [model.sde.T, 1e-3]
  const saveAt = Array.from({ length: o.frames - 1 }, (_, k) => t0 + ((t1 - t0) * (k + 1)) / o.frames)
  const started = performance.now()
  const result = await solve(rev, solver, { backend: gpu, shape: [o.count, 2], steps: o.steps, seed: o.seed, inputs: model.weights, saveAt })
  const ms = performance.now() - started
  // Kernels of one step of this solver on this model, as the solve ran them.
  using one = await compile(({ x, t, dt }: Record<string, Tensor>) => step(rev, solver, x!, t!, dt!).x, { x: [o.count, 2], t: [], dt: [] }, { backend: gpu })
  const frames = (result.path?.x ?? [result.x]).map((f) => Float32Array.from(f))
  return { x: Float32Array.from(result.x), frames, kernelsPerStep: explain(one).dispatches, msPerStep: ms / result.steps }
}

/** Live training of an MLP drift on the swiss roll (DSM, importance-sampled t), a chunk of steps at a time. */
export class Trainer {
  private readonly layout
  private state: Record<"params" | "m" | "v" | "ema", Float32Array | ReturnType<Executable["output"]>>
  private steps = 0

  private constructor(private readonly spec: TrainSpec, private readonly program: Executable, private readonly seed: number) {
    this.layout = paramLayout(spec.network.params)
    const params = packHost(initParams(spec.network, seed), this.layout)
    this.state = { params, m: new Float32Array(this.layout.size), v: new Float32Array(this.layout.size), ema: params.slice() }
  }

  static async create(gpu: GpuHandle, seed: number): Promise<Trainer> {
    const spec: TrainSpec = {
      // The swiss-roll example's model and schedule (examples/swissroll.ts).
      sde: vp(), network: mlp({ dataDim: 2, hidden: [128, 128, 128] }), parameterisation: "a", objective: { kind: "dsm", options: { t: importanceTime(1e-3) } },
      batch: 512, sampleShape: [2], data: { kind: "device", sample: (n) => toySample("swissroll", n) }, warmup: 100, gradClip: 1, emaDecay: 0.995,
    }
    return new Trainer(spec, await compile(trainStep(spec), {}, { backend: gpu }), seed)
  }

  /** Runs `n` steps on the device and returns the step reached and the loss of the last one. */
  async train(n: number, lr = 2e-3): Promise<{ step: number; loss: number }> {
    const start = this.steps
    this.program.runChain({
      steps: n,
      inputs: { ...this.state, lr, step: start + 1 },
      scalars: (i) => ({ lr, step: start + i + 1 }),
      options: (i) => ({ seed: this.seed, step: start + i + 1 }),
      feedback: { params: "params", m: "m", v: "v", ema: "ema" },
    })
    this.steps += n
    this.state = { params: this.program.output("params"), m: this.program.output("m"), v: this.program.output("v"), ema: this.program.output("ema") }
    return { step: this.steps, loss: (await this.program.read("loss"))[0]! }
  }

  /** The EMA weights so far, as a model to sample. */
  async model(): Promise<Model> {
    const ema = (await this.program.read("ema")) as Float32Array
    const weights = Object.fromEntries(Object.entries(unpackHost(ema, this.layout)).map(([n, t]) => [n, t.data]))
    return { network: this.spec.network, sde: this.spec.sde, weights, source: `trained in this tab (${this.steps} steps)` }
  }
}
