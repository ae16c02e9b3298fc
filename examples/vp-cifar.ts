/**
 * The paper's VP SDE on CIFAR-10: denoising score matching with a DDPM UNet, test bits/dim from the
 * continuous-time ELBO, Euler–Maruyama sample grids, checkpoints, resume.
 *
 *   npx bun run examples/vp-cifar.ts                  # sized for a 2-core CPU (lavapipe): ~a few hundred steps
 *   npx bun run examples/vp-cifar.ts --preset paper   # sdeflow-light's configuration, for a real GPU
 *   npx bun run examples/vp-cifar.ts --debias         # importance-sampled t (q ∝ g²/v)
 *
 * Ctrl-C writes a checkpoint; running the same command again resumes from it.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Stream } from "effect"
import { parseArgs } from "node:util"
import { BunGpu } from "../src/platform/bun.ts"
import { Gpu } from "../src/runtime/gpu.ts"
import { decodeConfig, type PresetName } from "../src/train/config.ts"
import { progressPrinter } from "../src/train/progress.ts"
import { trainingRun } from "../src/train/run.ts"

const { values: flags } = parseArgs({
  options: {
    preset: { type: "string", default: "cpu" },
    debias: { type: "boolean" },
    steps: { type: "string" },
    batch: { type: "string" },
    out: { type: "string" },
    seed: { type: "string" },
  },
})
const number = (s: string | undefined) => (s === undefined ? undefined : Number(s))

const main = Effect.gen(function* () {
  const config = yield* decodeConfig(flags.preset as PresetName, {
    debias: flags.debias,
    steps: number(flags.steps),
    batch: number(flags.batch),
    out: flags.out,
    seed: number(flags.seed),
  })
  const gpu = yield* Gpu
  console.log(`device: ${gpu.adapter.description}; preset ${flags.preset}; output ${config.out}/`)
  let lastPhase = ""
  const printer = progressPrinter()
  yield* Stream.runForEach(
    trainingRun(config, gpu, (p) => {
      const phase = `${p.phase}`
      if (phase !== lastPhase) console.log(`CIFAR-10: ${phase}…`)
      lastPhase = phase
    }),
    (event) => Effect.sync(() => printer(event)),
  )
}).pipe(
  Effect.scoped,
  Effect.provide(BunGpu),
  // No usable WebGPU adapter: say what is missing and how to install it, once, and exit 2 (as `sdeflow` does).
  Effect.catchTag("NoAdapter", (e) => Effect.sync(() => (console.error(e.message), process.exit(2)))),
)

NodeRuntime.runMain(main)
