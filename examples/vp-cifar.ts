/**
 * The paper's VP SDE on CIFAR-10: denoising score matching with a DDPM UNet, test bits/dim from the
 * continuous-time ELBO, Euler–Maruyama sample grids, checkpoints, resume.
 *
 *   npx bun run examples/vp-cifar.ts                  # preset by adapter: cpu on lavapipe & co, gpu on a GPU
 *   npx bun run examples/vp-cifar.ts --preset cpu     # sized for a 2-core CPU (lavapipe): a few hundred steps
 *   npx bun run examples/vp-cifar.ts --preset gpu     # the paper's UNet at half width: ~15 min on a mid-range GPU
 *   npx bun run examples/vp-cifar.ts --preset paper   # sdeflow-light's configuration (100k steps)
 *   npx bun run examples/vp-cifar.ts --debias         # importance-sampled t (q ∝ g²/v)
 *
 * Ctrl-C writes a checkpoint; running the same command again resumes from it.
 */
import { parseArgs } from "node:util"
import { ConfigError, fitPreset, NoAdapter, presetFor, presets, progressPrinter, withGpu, type PresetName } from "sdeflow"

const { values: flags } = parseArgs({
  options: {
    preset: { type: "string" },
    debias: { type: "boolean" },
    steps: { type: "string" },
    batch: { type: "string" },
    out: { type: "string" },
    seed: { type: "string" },
  },
})
const number = (s: string | undefined) => (s === undefined ? undefined : Number(s))
const overrides = { debias: flags.debias, steps: number(flags.steps), batch: number(flags.batch), out: flags.out, seed: number(flags.seed) }

// Ctrl-C / SIGTERM stop the run: the loop writes a checkpoint first, and the same command resumes from it.
const stop = new AbortController()
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => stop.abort())

try {
  await withGpu(async (gpu) => {
    // An explicit --preset wins; otherwise the adapter decides: cpu on CPU adapters, gpu on GPUs.
    const choice = flags.preset === undefined ? presetFor(gpu.adapter) : { preset: flags.preset as PresetName, reason: "given by --preset" }
    const preset = choice.preset
    console.log(`preset ${preset}: ${choice.reason}`)
    console.log(`device: ${gpu.adapter.description}; output ${flags.out ?? presets[preset]?.out}/`)
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
  // No usable WebGPU adapter, or a bad preset or flag: say so once and exit 2 (as `sdeflow` does).
  if (error instanceof NoAdapter || error instanceof ConfigError) {
    console.error(error.message)
    process.exit(2)
  }
  throw error
}
