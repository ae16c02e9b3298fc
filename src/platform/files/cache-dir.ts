/** Where sdeflow keeps what it can rebuild (decoded datasets, measured tile shapes). */
import { homedir } from "node:os"
import { join } from "node:path"

/** `$SDEFLOW_CACHE`, else `~/.cache/sdeflow`. */
export const defaultCacheDir = (): string => process.env["SDEFLOW_CACHE"] || join(homedir(), ".cache", "sdeflow")
