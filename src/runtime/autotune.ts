/**
 * Per-adapter choice of contraction tile shapes, measured once per adapter: a 512³ matmul with 4, 8 or
 * 16 rows per thread, and a UNet-sized 3×3 convolution (32 channels, 32×32, batch 4) with 4, 8 or 16
 * rows (4 and 8 also staged in workgroup memory). The cheapest of each — compile time plus `amortizedRuns` runs (GPU timestamps, or
 * the wall clock where a GPU runs them too fast for Dawn's coarse timestamps) —
 * is kept for every later program on that adapter, in the process and in the platform's tile cache (a
 * file under Bun, `<cache>/tiles.json`; localStorage in a browser), so only the first run on a machine
 * pays the few seconds. A missing, unreadable or malformed cache entry is measured again.
 */
import type { GpuHandle, TextStore } from "./gpu.ts"
import { defaultTiles, type TileShape } from "../compile/tiled-matmul.ts"
import { buildProgram } from "../compile/program.ts"
import { conv2d, input } from "../ir/tensor.ts"
import type { Node } from "../ir/node.ts"
import { webgpuExecutable } from "./webgpu-executable.ts"
import type { Executable, InputValue } from "./executable.ts"
import { wgslOptionsFor } from "./adapter-policy.ts"

/** Choices by adapter (a process that opens several devices on one adapter measures once). */
const tuned = new Map<string, Promise<TileShape>>()

/** Bump when the templates or the candidates change: choices measured for other code are not reused. */
const cacheVersion = 10
const rowChoices = [4, 8, 16]

interface TilesCache {
  readonly version: number
  readonly adapters: Record<string, TileShape>
}

const isTileShape = (x: unknown): x is TileShape => {
  const t = x as Partial<TileShape> | null
  return typeof t === "object" && t !== null && rowChoices.includes(t.matmulRows!) && rowChoices.includes(t.gemmRows!) && typeof t.workgroupMemory === "boolean"
}

/** The cache's contents, or an empty cache when there is none, it is unreadable or from another version. */
const readCache = (store: TextStore | undefined): TilesCache => {
  try {
    const parsed = JSON.parse(store?.read() ?? "") as Partial<TilesCache>
    if (parsed.version === cacheVersion && typeof parsed.adapters === "object" && parsed.adapters !== null) return { version: cacheVersion, adapters: parsed.adapters }
  } catch {
    // Missing or corrupt: measured again and rewritten.
  }
  return { version: cacheVersion, adapters: {} }
}

/** Records a choice; a store that cannot keep it only costs a re-measure next time. */
const remember = (store: TextStore | undefined, key: string, tiles: TileShape): void => {
  if (!store) return
  try {
    const cache = readCache(store)
    store.write(JSON.stringify({ ...cache, adapters: { ...cache.adapters, [key]: tiles } }, null, 2))
  } catch {
    // Not being able to cache is not an error: the next process measures again.
  }
}

/** A cached choice for `key`. */
const cached = (store: TextStore | undefined, key: string): TileShape | undefined => {
  const entry = readCache(store).adapters[key]
  return isTileShape(entry) ? entry : undefined
}

/**
 * The tile shapes for `gpu`, measured on first use (defaults without timestamp queries). Every choice
 * sums each output over k in the same order, so results do not depend on which one wins.
 */
export const tunedTiles = (gpu: GpuHandle): Promise<TileShape> => {
  const key = `${gpu.adapter.vendor}|${gpu.adapter.architecture}|${gpu.adapter.device}|${gpu.adapter.description}`
  let choice = tuned.get(key)
  if (!choice) {
    const known = cached(gpu.tileCache, key)
    choice = known
      ? Promise.resolve(known)
      : gpu.features.has("timestamp-query")
        ? measure(gpu).then((tiles) => (remember(gpu.tileCache, key, tiles), tiles))
        : Promise.resolve({ ...defaultTiles, ...wgslOptionsFor(gpu) })
    tuned.set(key, choice)
  }
  return choice
}

/**
 * How many runs a form's compile time is spread over when choosing it. A form is a cost twice: once
 * when the driver compiles it (seconds per tiled kernel on lavapipe, milliseconds on a GPU) and at
 * every run. A CPU training run of the `cpu` preset takes `RUN_STEPS` steps, and each tiled form of its
 * UNet step serves `DISPATCHES_PER_FORM` dispatches per step (layers of one form share its pipeline), so
 * a form that is faster per run but slower to compile must save its extra compile time within that
 * many runs. On a GPU compile times are small and the fastest form wins, as before.
 */
const RUN_STEPS = 300
/** Tiled dispatches per tiled pipeline of the `cpu` preset's training step, rounded down (bench/README.md, "The autotune's amortisation"). */
const DISPATCHES_PER_FORM = 5
export const amortizedRuns = RUN_STEPS * DISPATCHES_PER_FORM

/**
 * Dawn rounds timestamps to multiples of 2¹⁶ ns (a timing-attack mitigation this binding cannot turn
 * off), so a kernel shorter than a few hundred µs — every candidate on a GPU — reads as 0 or 65.5 µs.
 */
const TIMESTAMP_QUANTUM_MS = 2 ** 16 / 1e6
/** Below this many quanta a timestamp reading is too coarse to rank candidates by. */
const RESOLVED_QUANTA = 50
/** Back-to-back runs are timed for at least this long on the wall clock, or this many runs (bun-webgpu's callback pool bounds runs in flight). */
const WALL_WINDOW_MS = 20
const MAX_RUNS_IN_FLIGHT = 256

/** Milliseconds per run of `exe`, from the wall clock over enough back-to-back runs to fill the window. */
const wallMsPerRun = async (exe: Executable, inputs: Record<string, InputValue>, output: string): Promise<number> => {
  for (let runs = 1; ; runs *= 4) {
    const start = performance.now()
    for (let r = 0; r < runs; r++) exe.run(inputs)
    await exe.read(output)
    const ms = performance.now() - start
    if (ms >= WALL_WINDOW_MS || runs >= MAX_RUNS_IN_FLIGHT) return ms / runs
  }
}

/**
 * GPU-timestamped runs a candidate's time is the best of. On a loaded 2-core machine single runs of one
 * kernel varied 2× (4.6 to 8.7 ms), enough to flip the choice; the best of five did not.
 */
const TIMED_RUNS = 5

/** Per-run time: the best of TIMED_RUNS GPU-timestamped runs, or the wall clock where timestamps cannot resolve it. */
export const msPerRun = async (exe: Executable, inputs: Record<string, InputValue>, output: string): Promise<number> => {
  let best = Infinity
  for (let r = 0; r < TIMED_RUNS; r++) best = Math.min(best, (await exe.profile(inputs)).reduce((s, k) => s + k.ms, 0))
  return best >= RESOLVED_QUANTA * TIMESTAMP_QUANTUM_MS ? best : wallMsPerRun(exe, inputs, output)
}

/** `candidates` for the one-output program `out`, cheapest first: compile time + amortizedRuns × the time of a run. */
const cheapest = async (gpu: GpuHandle, out: Node, candidates: readonly TileShape[]): Promise<{ tiles: TileShape; ms: number; compileMs: number }[]> => {
  const program = buildProgram({ out }, { maxStorageBuffers: gpu.limits.maxStorageBuffersPerShaderStage })
  const inputs = Object.fromEntries(program.inputs.map((i) => [i.name, new Float32Array(i.shape.reduce((a, b) => a * b, 1)).fill(0.5)]))
  const timings: { tiles: TileShape; ms: number; compileMs: number }[] = []
  for (const tiles of candidates) {
    const start = performance.now()
    // Building the executable compiles its pipelines (with a first dispatch), so this is the form's compile cost.
    const exe = await webgpuExecutable(gpu, program, tiles)
    const compileMs = performance.now() - start
    exe.run(inputs)
    // Inputs stay on the device from here on, so runs time kernels rather than uploads.
    const resident = Object.fromEntries(program.inputs.map((i) => [i.name, exe.input(i.name)]))
    const ms = await msPerRun(exe, resident, "out")
    exe.destroy()
    timings.push({ tiles, ms, compileMs })
  }
  const cost = (t: { ms: number; compileMs: number }) => t.compileMs + amortizedRuns * t.ms
  return timings.sort((a, b) => cost(a) - cost(b))
}

const measure = async (gpu: GpuHandle): Promise<TileShape> => {
  // 512³, not 256³: a 256³ kernel is over too soon for its timing to rise above the noise, which then
  // picks the row count (bench/README.md, "Decisions and the measurements behind them").
  const matmul = input("a", [512, 512]).matmul(input("b", [512, 512])).node
  // The cpu preset's largest convolution at its batch: on a smaller one every row count ran about as
  // fast, so cold compile time decided, and the rows it picked ran the UNet step 1.4× slower (bench/README.md).
  const conv = conv2d(input("x", [4, 32, 32, 32]), input("w", [32, 32, 3, 3]), { padding: 1 }).node
  const [bestMatmul] = await cheapest(gpu, matmul, rowChoices.map((rows) => ({ ...defaultTiles, matmulRows: rows })))
  const gemmCandidates = rowChoices.flatMap((rows) => (rows > 8 ? [false] : [false, true]).map((workgroupMemory) => ({ ...defaultTiles, gemmRows: rows, workgroupMemory })))
  const [bestConv] = await cheapest(gpu, conv, gemmCandidates)
  return { matmulRows: bestMatmul!.tiles.matmulRows, gemmRows: bestConv!.tiles.gemmRows, workgroupMemory: bestConv!.tiles.workgroupMemory }
}
