/**
 * The paper's Figure 1 (Huang, Lim, Courville 2021): three generative SDEs dX = μ(X, s) ds + σ(s) dB on
 * the swiss roll, each trained by maximising the general ELBO of Theorem 1 — the inference SDE
 * dY = (σ·a − μ) dt + σ dB̂ simulated inside the training program, gradients through the path:
 *   1. a neural ODE (σ = 0, no inference drift): the ELBO is the exact log-likelihood of a CNF;
 *   2. a fixed σ = 0.5 with a learned drift μ and a learned inference drift a (two networks);
 *   3. the plug-in reverse SDE of VP: μ = g·a − f with one learned a, whose inference SDE is VP itself.
 * Prints each model's test ELBO before and after training and writes samples and sample paths of the
 * three side by side.
 *
 *   npx bun run examples/paper-figure1.ts [--iterations 600] [--out runs/paper-figure1]
 */
import { join } from "node:path"
import { parseArgs } from "node:util"
import { mkdirSync } from "node:fs"
import {
  adamStep, auto, coefficient, compile, drift, generalElbo, generalElboStep, grad, initParams, input, mlp, normal, packHost, paramLayout,
  pathPlot, scatterPlot, sde, solve, stackPngs, toySample, unflatten, vp, withGpu, writeFileAtomicSync,
  type GenerativeSde, type GpuHandle, type Tensor,
} from "sdeflow"

const { values } = parseArgs({
  options: { iterations: { type: "string", default: "600" }, out: { type: "string", default: "runs/paper-figure1" } },
})
const iterations = Number(values.iterations)
// Horizon, inference-SDE steps when training (unrolled, gradients through them) and when evaluating
// (chained: a fine discretisation of the continuous-time bound, which a coarse one may flatter), batch, test points.
const [T, K, evalSteps, batch, testSize] = [1, 10, 200, 256, 2048]
const jacobianPenalty = Number(process.env.PENALTY ?? 0.05)

const stdNormalLog = (x: Tensor) => x.square().sum([1]).mul(-0.5).sub(Math.log(2 * Math.PI))
const net = (prefix: string) => mlp({ dataDim: 2, hidden: [64, 64], prefix })
const perSample = (s: Tensor, x: Tensor) => s.broadcastTo([x.shape[0]!])
const forward = vp()
const tForward = (s: Tensor) => s.neg().add(T) // generation time s ↔ forward (data → noise) time T − s

interface Model {
  readonly name: string
  readonly networks: readonly ReturnType<typeof net>[]
  /** The generative SDE and the inference drift, reading the parameters `p`. */
  readonly build: (p: Record<string, Tensor>) => { generative: GenerativeSde; a?: (y: Tensor, t: Tensor) => Tensor }
}

const mu = net("mu")
const infer = net("a")
const models: readonly Model[] = [
  {
    name: "neural ODE (σ = 0)",
    networks: [mu],
    build: (p) => ({ generative: { mu: (x, s) => mu.apply(p, x, perSample(s, x)), sigma: () => 0, T, priorLogDensity: stdNormalLog } }),
  },
  {
    name: "fixed σ = 0.5, learned μ and a",
    networks: [mu, infer],
    build: (p) => ({
      generative: { mu: (x, s) => mu.apply(p, x, perSample(s, x)), sigma: () => 0.5, T, priorLogDensity: stdNormalLog },
      a: (y, t) => infer.apply(p, y, perSample(t, y)),
    }),
  },
  {
    name: "plug-in reverse SDE (VP)",
    networks: [infer],
    build: (p) => {
      const a = (y: Tensor, t: Tensor) => infer.apply(p, y, perSample(t, y))
      const g = (s: Tensor, like: Tensor) => coefficient(forward.g, tForward(s), like)
      return {
        generative: { mu: (x, s) => g(s, x).mul(a(x, tForward(s))).sub(drift(forward, x, tForward(s))), sigma: (s) => g(s, s), T, priorLogDensity: stdNormalLog },
        a,
      }
    },
  },
]

const layoutOf = (model: Model) => paramLayout(Object.assign({}, ...model.networks.map((n) => n.params)))
const initialParams = (model: Model) => packHost(Object.assign({}, ...model.networks.map((n, i) => initParams(n, i))), layoutOf(model))

/** Trains `model` by Adam on −ELBO, all iterations chained on the device; returns the trained parameters. */
const fit = async (gpu: GpuHandle, model: Model, params: Float32Array): Promise<Float32Array> => {
  const layout = layoutOf(model)
  const exe = await compile(
    ({ params, m, v, lr, step }: Record<string, Tensor>) => {
      const { generative, a } = model.build(unflatten(params!, layout))
      // Trained on the bound minus a small Jacobian penalty (see generalElbo's jacobianPenalty), evaluated without it.
      const loss = generalElbo(generative, toySample("swissroll", batch), { a, steps: K, jacobianPenalty }).mean().neg()
      const [g] = grad(loss, [params!])
      const next = adamStep({ p: params! }, { p: g! }, { p: m! }, { p: v! }, { lr: lr!, step: step! })
      return { loss, params: next.params.p!, m: next.m.p!, v: next.v.p! }
    },
    { params: [layout.size], m: [layout.size], v: [layout.size], lr: [], step: [] },
    { backend: gpu },
  )
  const zeros = new Float32Array(layout.size)
  let state = { params: params as Float32Array | ReturnType<typeof exe.output>, m: zeros as Float32Array | ReturnType<typeof exe.output>, v: zeros as Float32Array | ReturnType<typeof exe.output> }
  const chunk = 100
  for (let done = 0; done < iterations; done += chunk) {
    const n = Math.min(chunk, iterations - done)
    exe.runChain({
      steps: n,
      inputs: { ...state, lr: 3e-3, step: done + 1 },
      scalars: (i) => ({ lr: 3e-3, step: done + i + 1 }),
      options: (i) => ({ seed: 1, step: done + i }),
      feedback: { params: "params", m: "m", v: "v" },
    })
    const loss = (await exe.read("loss"))[0]!
    console.log(`  ${String(done + n).padStart(4)} iterations: −ELBO ${loss.toFixed(3)} nats`)
    state = { params: await exe.read("params", "f32"), m: await exe.read("m", "f32"), v: await exe.read("v", "f32") }
  }
  exe.destroy()
  return state.params as Float32Array
}

/** Mean test ELBO (nats) over fixed held-out swiss-roll points: the inference SDE chained over evalSteps steps. */
const testElbo = async (gpu: GpuHandle, model: Model, params: Float32Array, x: Float32Array): Promise<number> => {
  const layout = layoutOf(model)
  const exe = await compile(
    ({ params, y, integral, t, h }: Record<string, Tensor>) => {
      const { generative, a } = model.build(unflatten(params!, layout))
      const next = generalElboStep(generative, y!, t!, h!, { a })
      return { y: next.y, integral: integral!.add(next.increment) }
    },
    { params: [layout.size], y: [testSize, 2], integral: [testSize], t: [], h: [] },
    { backend: gpu },
  )
  const h = T / evalSteps
  exe.runChain({
    steps: evalSteps,
    inputs: { params, y: x, integral: new Float32Array(testSize), t: 0, h },
    scalars: (i) => ({ t: i * h, h }),
    options: (i) => ({ seed: 100, step: i }),
    feedback: { y: "y", integral: "integral" },
  })
  const [y, integral] = [await exe.read("y"), await exe.read("integral")]
  exe.destroy()
  let total = 0
  for (let i = 0; i < testSize; i++) total += -0.5 * (y[2 * i]! ** 2 + y[2 * i + 1]! ** 2) - Math.log(2 * Math.PI) - integral[i]!
  return total / testSize
}

/** Samples (end points) and a few paths of the generative SDE, solved from the prior. */
const generate = async (gpu: GpuHandle, model: Model, params: Float32Array) => {
  const { generative } = model.build(unflatten(input("params", [params.length]), layoutOf(model)))
  const process = sde({
    name: model.name, T, prior: (shape) => normal(shape as number[]),
    drift: (x, s) => generative.mu(x, s), diffusion: (_, s) => generative.sigma(s),
  })
  const saveAt = Array.from({ length: 19 }, (_, i) => ((i + 1) * T) / 20)
  // auto(): RK4 for the neural ODE (its diffusion is a literal 0), SRA1 for the two additive-noise SDEs.
  return solve(process, auto(), { backend: gpu, shape: [1024, 2], steps: 100, saveAt, seed: 3, inputs: { params } })
}

await withGpu(async (gpu) => {
  mkdirSync(values.out!, { recursive: true })
  const started = performance.now()
  const data = await compile(() => toySample("swissroll", testSize), {}, { backend: gpu })
  data.run({}, { seed: 12345 })
  const test = await data.read("out", "f32")
  const pictures: Uint8Array[] = []
  const panels = []
  const results: string[] = []
  for (const model of models) {
    console.log(`\n${model.name}: ${layoutOf(model).size} parameters, ${iterations} iterations`)
    const untrained = initialParams(model)
    const before = await testElbo(gpu, model, untrained, test)
    const trained = await fit(gpu, model, untrained)
    const after = await testElbo(gpu, model, trained, test)
    results.push(`${model.name.padEnd(34)} test ELBO ${before.toFixed(3)} → ${after.toFixed(3)} nats (+${(after - before).toFixed(3)})`)
    console.log(`  ${results.at(-1)}`)
    const samples = await generate(gpu, model, trained)
    pictures.push(scatterPlot([{ points: test, rgb: [200, 200, 200] }, { points: samples.x, rgb: [31, 119, 180] }], 320, 2.5))
    panels.push({ t: [0, ...samples.path!.t], paths: Array.from({ length: 12 }, (_, k) => [NaN, ...samples.path!.x.map((x) => x[2 * k]!)]) })
  }
  // One picture: the three models' samples (over the test data, grey) above their sample paths x₁(s).
  const figure = stackPngs([pictures, [pathPlot(panels, 320, 160)]])
  const file = join(values.out!, "figure1.png")
  writeFileAtomicSync(file, figure)
  console.log(`\n${results.join("\n")}\nsamples (top) and sample paths x₁(s) (bottom): ${file}; ${((performance.now() - started) / 1000).toFixed(0)} s in all`)
})
