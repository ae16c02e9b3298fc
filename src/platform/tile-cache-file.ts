/**
 * Bun's tile cache: autotuned tile shapes in `<cache>/tiles.json` (written atomically), so one process on
 * a machine measures and every later one reads. `SDEFLOW_AUTOTUNE=fresh` reads nothing: measure again.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { defaultCacheDir } from "./files/cache-dir.ts"
import { writeFileAtomicSync } from "./files/atomic.ts"
import type { TextStore } from "../runtime/gpu.ts"

export const tilesCachePath = (): string => join(defaultCacheDir(), "tiles.json")

/** The file as a TextStore (the path is resolved at each use, so SDEFLOW_CACHE set later still counts). */
export const fileTileCache: TextStore = {
  read: () => {
    if (process.env["SDEFLOW_AUTOTUNE"] === "fresh") return undefined
    try {
      return readFileSync(tilesCachePath(), "utf8")
    } catch {
      return undefined
    }
  },
  write: (text) => writeFileAtomicSync(tilesCachePath(), text),
}
