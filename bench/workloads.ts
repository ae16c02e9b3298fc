/**
 * The benchmark's workloads: what each program computes, at which sizes, with which inputs, and what
 * the PyTorch peer must run to do the same work. Sizes live here only; the peer receives them as data.
 */
import { conv2d, input, matmul, normal, type Tensor } from "../src/ir/tensor.ts"
import { grad } from "../src/ir/autodiff.ts"
import type { InputSpec, Outputs } from "../src/compile/compile.ts"
import type { InputValue } from "../src/runtime/executable.ts"
import { mlp } from "../src/nn/mlp.ts"
import { unet } from "../src/nn/unet.ts"
import { fans, initParams, initialValue } from "../src/nn/init.ts"
import type { Layer } from "../src/nn/module.ts"
import { toySample } from "../src/data/toy.ts"
import { driftModel, paramInputs, trainStep, type StateName, type TrainSpec } from "../src/train/programs.ts"
import { packHost, paramLayout } from "../src/nn/param-layout.ts"
import { vp } from "../dsl/library/index.ts"
import { elbo } from "../dsl/objectives.ts"

/** Which sizes and how many repetitions: a quick look, the documented run, or a real GPU. */
export type BenchMode = "quick" | "full" | "device"

/** What the peer script must run: a kind it implements and the sizes, as plain JSON. */
export interface PeerTask {
  readonly kind: "em" | "mlp-dsm-train" | "mlp-elbo" | "unet-train" | "matmul" | "conv"
  readonly [size: string]: number | string
}

/** One benchmark program with everything needed to compile, feed, judge and mirror it. */
export interface Workload {
  /** Stable identifier, also the key of the peer's result ("em-4m"). */
  readonly id: string
  readonly title: string
  /** Sizes in words ("x [4194304] f32"). */
  readonly size: string
  /** The throughput worth headlining: bytes for streaming programs, FLOPs for contractions. */
  readonly bound: "memory" | "compute"
  readonly fn: (inputs: Record<string, Tensor>) => Outputs
  readonly specs: Readonly<Record<string, InputSpec>>
  /** Host values of every input, deterministic. */
  readonly inputs: () => Record<string, InputValue>
  readonly peer: PeerTask
  /** A caveat printed with the row (e.g. a reduced batch). */
  readonly note?: string
}

/** Deterministic values in [−scale, scale) from a 32-bit LCG: inputs need variety, not statistics. */
export const hostValues = (n: number, seed: number, scale = 1): Float32Array => {
  const out = new Float32Array(n)
  let state = (seed * 2654435761) >>> 0 || 1
  for (let i = 0; i < n; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    out[i] = (state / 2 ** 32 - 0.5) * 2 * scale
  }
  return out
}

/** The README tour's step: reverse VP SDE, analytic score s(x) = −x, β(t) = 0.1 + 19.9·t as graph ops on t. */
export const emStep = ({ x, t, dt }: Record<string, Tensor>): Tensor => {
  const beta = t!.mul(19.9).add(0.1)
  const drift = x!.mul(beta.mul(-0.5)).sub(x!.neg().mul(beta)) // f − g²·s(x)
  return x!.sub(drift.mul(dt!)).add(normal(x!.shape).mul(beta.mul(dt!).sqrt()))
}

const emWorkload = (states: number, label: string): Workload => ({
  id: `em-${label}`,
  title: `Euler–Maruyama step, VP SDE, s(x) = −x, ${label.toUpperCase()} states`,
  size: `x [${states}] f32`,
  bound: "memory",
  fn: emStep,
  specs: { x: [states], t: [], dt: [] },
  inputs: () => ({ x: hostValues(states, 1), t: 0.5, dt: 0.001 }),
  peer: { kind: "em", states },
})

/** The 2-D toy MLP of the paper's swiss-roll experiment: 3 → 128 → 128 → 128 → 2 with SiLU. */
const toyMlp = () => mlp({ dataDim: 2, hidden: [128, 128, 128] })

/** Host values of params and Adam/EMA state as if mid-training, so the update is not Adam's sign-like first step. */
const midTrainingState = (network: Layer<[Tensor, Tensor]>): Record<StateName, Float32Array> => {
  const layout = paramLayout(network.params)
  const params = packHost(initParams(network, 0), layout)
  return {
    params,
    ema: params.slice(),
    m: hostValues(layout.size, 100, 1e-3),
    v: hostValues(layout.size, 101, 1e-4).map((u) => 1e-4 + u), // v > 0: second moments of gradients ~1e-2
  }
}

const mlpTrainWorkload = (batch: number): Workload => {
  const network = toyMlp()
  const spec: TrainSpec = {
    sde: vp(),
    network,
    parameterisation: "a",
    objective: { kind: "dsm", options: {} },
    batch,
    sampleShape: [2],
    data: { kind: "device", sample: (n) => toySample("swissroll", n) },
    warmup: 100,
    gradClip: 1,
    emaDecay: 0.999,
  }
  return {
    id: "mlp-dsm-train",
    title: "MLP DSM loss fwd+bwd + clip + Adam + EMA (swiss roll drawn on device)",
    size: `batch ${batch}, MLP 3→128→128→128→2`,
    bound: "compute",
    fn: trainStep(spec),
    specs: {},
    inputs: () => ({ ...midTrainingState(network), lr: 1e-3, step: 1000 }),
    peer: { kind: "mlp-dsm-train", batch, hidden: 128 },
  }
}

const mlpElboWorkload = (batch: number): Workload => {
  const network = toyMlp()
  const sde = vp()
  return {
    id: "mlp-elbo",
    title: "MLP ELBO evaluation (Hutchinson divergence, 1 Rademacher probe)",
    size: `batch ${batch}, MLP 3→128→128→128→2`,
    bound: "compute",
    fn: () => elbo(sde, driftModel(network, paramInputs(network), "a"), toySample("swissroll", batch)).mean(),
    specs: {},
    inputs: () => initParams(network, 0),
    peer: { kind: "mlp-elbo", batch, hidden: 128 },
  }
}

/**
 * UNet parameters with every weight drawn U(±1/√fan_in). The reference init starts conv2 and the last
 * conv at ~1e-10, which would make most gradients ~0 and the fused/unfused comparison vacuous.
 */
const unetParams = (network: Layer<[Tensor, Tensor]>): Record<string, Float32Array> =>
  Object.fromEntries(
    Object.entries(network.params).map(([name, d]) =>
      d.shape.length < 2 ? [name, initialValue(name, d.shape, d.init, 0)] : [name, initialValue(name, d.shape, { kind: "uniform", bound: 1 / Math.sqrt(fans(d.shape).fanIn) }, 0)],
    ),
  )

const unetWorkload = (batch: number, reduced: boolean): Workload => {
  const config = { inputChannels: 3, inputHeight: 32, ch: 32, chMult: [1, 2], numResBlocks: 1, attnResolutions: [16] }
  const network = unet(config)
  const names = Object.keys(network.params)
  return {
    id: "unet-train",
    title: "UNet fwd+bwd, loss mean((net(x, t) − x)²), all parameter gradients",
    size: `batch ${batch}, 3×32×32, ch 32, mult [1,2], 1 res block, attn @16`,
    bound: "compute",
    fn: () => {
      const params = paramInputs(network)
      const x = input("x", [batch, 3, 32, 32])
      const loss = network.apply(params, x, input("t", [batch])).sub(x).square().mean()
      const grads = grad(loss, names.map((n) => params[n]!))
      return { loss, ...Object.fromEntries(names.map((n, i) => [`grad/${n}`, grads[i]!])) }
    },
    specs: {},
    inputs: () => ({ ...unetParams(network), x: hostValues(batch * 3 * 32 * 32, 7), t: hostValues(batch, 8, 0.5).map((u) => 0.5 + u) }),
    peer: { kind: "unet-train", batch, ch: 32 },
    note: reduced ? `batch ${batch} in --quick (the full run uses 32)` : undefined,
  }
}

const matmulWorkload = (n: number): Workload => ({
  id: `matmul-${n}`,
  title: `matmul ${n}³`,
  size: `[${n}, ${n}] · [${n}, ${n}] f32`,
  bound: "compute",
  fn: ({ a, b }) => matmul(a!, b!),
  specs: { a: [n, n], b: [n, n] },
  inputs: () => ({ a: hostValues(n * n, 11), b: hostValues(n * n, 12) }),
  peer: { kind: "matmul", n },
})

/** A UNet-shaped 3×3 convolution with its bias (the bias add is what fusion can fold into the epilogue). */
const convWorkload = (batch: number, channels: number, size: number): Workload => ({
  id: `conv-${channels}x${size}`,
  title: `conv 3×3 ${channels}→${channels} @ ${size}×${size} + bias`,
  size: `x [${batch}, ${channels}, ${size}, ${size}], w [${channels}, ${channels}, 3, 3]`,
  bound: "compute",
  fn: ({ x, w, b }) => conv2d(x!, w!, { padding: 1 }).add(b!.reshape([1, channels, 1, 1])),
  specs: { x: [batch, channels, size, size], w: [channels, channels, 3, 3], b: [channels] },
  inputs: () => ({ x: hostValues(batch * channels * size * size, 21), w: hostValues(channels * channels * 9, 22, 1 / Math.sqrt(9 * channels)), b: hostValues(channels, 23) }),
  peer: { kind: "conv", batch, channels, size },
})

/** Every workload at the sizes of `mode` (quick shrinks the UNet batch, the matmul and the conv batch). */
export const workloadsFor = (mode: BenchMode): Workload[] => {
  const quick = mode === "quick"
  const device = mode === "device"
  return [
    emWorkload(1 << 20, "1m"),
    emWorkload(4 << 20, "4m"),
    ...(device ? [emWorkload(16 << 20, "16m")] : []),
    mlpTrainWorkload(8192),
    mlpElboWorkload(8192),
    unetWorkload(quick ? 4 : 32, quick),
    ...(quick ? [512] : device ? [2048] : [256, 512, 1024]).map(matmulWorkload),
    convWorkload(quick ? 4 : 16, 32, 32),
    convWorkload(quick ? 4 : 16, 64, 16),
  ]
}

/**
 * Repetitions per mode: warm-up runs, timed runs, and the wall-clock budget after which timing stops
 * early (at 3 runs or more). The fused/unfused agreement run before them already warms every kernel,
 * which is why --quick adds no warm-up of its own.
 */
export const repetitionsFor = (mode: BenchMode): { warmup: number; reps: number; budgetMs: number } =>
  mode === "quick" ? { warmup: 0, reps: 5, budgetMs: 3_000 } : mode === "full" ? { warmup: 1, reps: 15, budgetMs: 30_000 } : { warmup: 10, reps: 100, budgetMs: 30_000 }
