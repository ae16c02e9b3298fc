/** Where a benchmark ran: CPU, load, adapter and the versions of the stack between sdeflow and the device. */
import type { TileShape } from "../src/compile/tiled-matmul.ts"
import { cpus, loadavg } from "node:os"
import { dirname, join } from "node:path"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import type { GpuHandle } from "../src/runtime/gpu.ts"
import type { Machine } from "./results.ts"

/** The Mesa release inside a Vulkan driver description ("llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM …)"), else null. */
export const mesaVersion = (description: string): string | null => /\bMesa ([^\s)]+)/.exec(description)?.[1] ?? null

/** bun-webgpu's version: it pins the Dawn build it ships, and Dawn reports no version of its own. */
const dawnVersion = (): string => {
  try {
    const entry = fileURLToPath(import.meta.resolve("bun-webgpu"))
    const pkg = JSON.parse(readFileSync(join(dirname(entry), "package.json"), "utf8")) as { version?: string }
    return `Dawn via bun-webgpu ${pkg.version ?? "?"}`
  } catch {
    return "Dawn via bun-webgpu (version unknown)"
  }
}

/** The 1-minute load average, rounded: other jobs on a shared CPU change every number in the table. */
export const currentLoad = (): number => Math.round(loadavg()[0]! * 100) / 100

/** A description of this machine, the open device and its tile shapes; `loadEnd` is filled in when the run finishes. */
export const describeMachine = (gpu: GpuHandle, started: Date, tiles: TileShape): Machine => {
  const cores = cpus()
  return {
    cpu: cores[0]?.model.trim() || "unknown CPU",
    cores: Math.max(1, cores.length),
    loadStart: currentLoad(),
    loadEnd: currentLoad(),
    adapter: gpu.adapter.description || gpu.adapter.device || gpu.adapter.vendor || "unnamed adapter",
    timestamps: gpu.features.has("timestamp-query"),
    tiles: `matmul rows ${tiles.matmulRows}, convolution rows ${tiles.gemmRows}, workgroup memory ${tiles.workgroupMemory ? "on" : "off"}`,
    bun: typeof Bun === "undefined" ? "not Bun" : Bun.version,
    dawn: dawnVersion(),
    mesa: mesaVersion(gpu.adapter.description),
    date: started.toISOString(),
  }
}
