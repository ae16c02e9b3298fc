/**
 * Compile workers: on a CPU adapter (lavapipe) the driver compiles every pipeline with LLVM on the one
 * thread that first dispatches it, so a first run uses one core. These child processes each open a
 * device and compile a shard of the pipelines; Mesa's disk cache, shared by all processes of a user,
 * then holds them when this process reaches them. Run as a script, this file is the worker itself.
 */
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs"
import { availableParallelism, tmpdir } from "node:os"
import { join } from "node:path"
import { closeGpu, openGpu, type AdapterSummary } from "../runtime/gpu.ts"
import type { PipelineRequest, PipelineWarmer } from "../runtime/pipelines.ts"
import { isCpuAdapterSummary } from "../runtime/adapter-policy.ts"
import { shaderCacheReport } from "./shader-cache.ts"
import { bunGpu } from "./bun-gpu.ts"

/** One line per compiled pipeline on the worker's stdout. */
const DONE = "compiled"

const runShard = async (path: string, shard: readonly PipelineRequest[], onDone: () => void): Promise<void> => {
  writeFileSync(path, JSON.stringify(shard))
  const child = Bun.spawn([process.execPath, import.meta.path, path], { stdout: "pipe", stderr: "ignore", env: process.env })
  const decoder = new TextDecoder()
  let pending = ""
  for await (const chunk of child.stdout) {
    pending += decoder.decode(chunk, { stream: true })
    const lines = pending.split("\n")
    pending = lines.pop()!
    for (const line of lines) if (line === DONE) onDone()
  }
  // A worker that failed only costs time: this process compiles whatever is not in the cache.
  await child.exited
}

/**
 * Workers for `adapter`: one per core beyond this process's own, on CPU adapters whose driver keeps a
 * disk cache; none elsewhere (a GPU driver compiles in milliseconds) or when SDEFLOW_COMPILE_WORKERS=0.
 */
export const compileWorkers = (adapter: AdapterSummary): PipelineWarmer | undefined => {
  const asked = process.env.SDEFLOW_COMPILE_WORKERS
  const workers = asked !== undefined ? Math.max(0, Number(asked) | 0) : availableParallelism() - 1
  if (workers < 1 || process.env.SDEFLOW_COMPILE_WORKER === "1" || !isCpuAdapterSummary(adapter) || shaderCacheReport().state === "disabled") return undefined
  return {
    workers,
    warm: async (shards, onDone) => {
      const dir = mkdtempSync(join(tmpdir(), "sdeflow-compile-"))
      try {
        await Promise.all(shards.map((shard, i) => (shard.length ? runShard(join(dir, `shard${i}.json`), shard, onDone) : Promise.resolve())))
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
  }
}

if (import.meta.main) {
  // A worker: compile the shard, report each pipeline, never start workers of its own.
  process.env.SDEFLOW_COMPILE_WORKER = "1"
  const shard = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as PipelineRequest[]
  const gpu = await openGpu(bunGpu())
  let reported = 0
  await gpu.pipelines.getAll(shard, (p) => {
    for (; reported < p.done; reported++) console.log(DONE)
  })
  closeGpu(gpu)
  process.exit(0)
}
