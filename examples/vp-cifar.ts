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
import { parseArgs } from "node:util"
import { fitPreset, NoAdapter, presets, progressPrinter, withGpu, type PresetName } from "sdeflow"

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
const preset = flags.preset as PresetName
const overrides = { debias: flags.debias, steps: number(flags.steps), batch: number(flags.batch), out: flags.out, seed: number(flags.seed) }

// Ctrl-C / SIGTERM stop the run: the loop writes a checkpoint first, and the same command resumes from it.
const stop = new AbortController()
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => stop.abort())

try {
  await withGpu(async (gpu) => {
    console.log(`device: ${gpu.adapter.description}; preset ${preset}; output ${flags.out ?? presets[preset]?.out}/`)
    let lastPhase = ""
    await fitPreset(preset, overrides, {
      backend: gpu,
      onEvent: progressPrinter(),
      onData: (p) => {
        if (p.phase !== lastPhase) console.log(`CIFAR-10: ${p.phase}…`)
        lastPhase = p.phase
      },
      signal: stop.signal,
    })
  })
} catch (error) {
  if (stop.signal.aborted) process.exit(130)
  // No usable WebGPU adapter: say what is missing and how to install it, once, and exit 2 (as `sdeflow` does).
  if (error instanceof NoAdapter) {
    console.error(error.message)
    process.exit(2)
  }
  throw error
}
