/**
 * The paper's 2-D experiment: learn the swiss roll with the VP SDE and an MLP drift a(x, t), report the
 * ELBO, then sample with λ = 0 (reverse SDE) and λ = 1 (probability-flow ODE) and draw data vs samples.
 *
 *   npx bun run examples/swissroll.ts [--steps 2000] [--out runs/swissroll]
 */
import { join } from "node:path"
import { parseArgs } from "node:util"
import {
  compile, driftModel, elbo, energyDistance, eulerMaruyama, fit, importanceTime, initParams, mlp, paramInputs, pluginReverse, progressPrinter,
  rk4, scatterPlot, solve, toySample, vp, withGpu, writeFileAtomicSync, type TrainSpec,
} from "sdeflow"

const { values: args } = parseArgs({ options: { steps: { type: "string", default: "2000" }, out: { type: "string", default: "runs/swissroll" }, seed: { type: "string", default: "0" } } })
const steps = Number(args.steps)
const seed = Number(args.seed)
const out = args.out!

const sde = vp()
const network = mlp({ dataDim: 2, hidden: [128, 128, 128] })
const spec: TrainSpec = {
  sde,
  network,
  parameterisation: "a",
  // Importance-sampled t (the paper's variance reduction) with the ELBO's weighting.
  objective: { kind: "dsm", options: { t: importanceTime(1e-3) } },
  batch: 512,
  sampleShape: [2],
  data: { kind: "device", sample: (n) => toySample("swissroll", n) },
  warmup: 100,
  gradClip: 1,
  emaDecay: 0.995,
}
const count = 2000

await withGpu(async (gpu) => {
  // The training loop to completion; `ema` holds the final EMA weights by parameter name.
  const { ema: weights } = await fit({
    spec, backend: gpu, steps, lr: 2e-3, seed, out, initialParams: initParams(network, seed), checkpointEvery: 500,
    config: { example: "swissroll", steps, seed }, onEvent: progressPrinter(),
  })
  const model = driftModel(network, paramInputs(network), "a")

  const dataProgram = await compile(() => toySample("swissroll", count), {}, { backend: gpu })
  dataProgram.run({}, { seed: 12345 })
  const data = await dataProgram.read("out", "f32")

  const bound = await compile(() => elbo(sde, model, toySample("swissroll", count), { t: importanceTime(1e-3) }).mean(), {}, { backend: gpu })
  let total = 0
  for (let k = 0; k < 10; k++) {
    bound.run(weights, { seed: 99, step: k })
    total += (await bound.read("out"))[0]! / 10
  }
  console.log(`ELBO on fresh data: ${total.toFixed(3)} nats per point (a lower bound on log-likelihood)`)

  const sde0 = await solve(pluginReverse(sde, model, { lambda: 0 }), eulerMaruyama(), { backend: gpu, shape: [count, 2], steps: 500, seed: 7, inputs: weights })
  const ode = await solve(pluginReverse(sde, model, { lambda: 1 }), rk4(), { backend: gpu, shape: [count, 2], steps: 100, seed: 8, inputs: weights })
  for (const [name, x] of [["λ = 0 (reverse SDE, EM 500 steps)", sde0.x], ["λ = 1 (probability-flow ODE, RK4 100 steps)", ode.x]] as const)
    console.log(`energy distance data vs ${name}: ${energyDistance(data, x, 2).toFixed(4)}`)
  writeFileAtomicSync(
    join(out, "swissroll.png"),
    scatterPlot([
      { points: data, rgb: [160, 160, 160] },
      { points: sde0.x, rgb: [31, 119, 180] },
      { points: ode.x, rgb: [214, 39, 40] },
    ]),
  )
  console.log(`wrote ${join(out, "swissroll.png")} (grey: data, blue: λ = 0, red: λ = 1)`)
})
