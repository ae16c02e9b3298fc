/**
 * A user's own project, as `npm install /path/to/sdeflow` leaves it: a folder whose node_modules/sdeflow
 * links to this repository (npm installs a folder dependency as a symlink), and scripts run there by Bun.
 */
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"

export interface ScriptRun {
  readonly stdout: string
  readonly stderr: string
  readonly code: number
}

/** Runs `source` as `main.ts` of a fresh consumer project, then removes the project. */
export const runAsConsumer = async (source: string): Promise<ScriptRun> => {
  const dir = mkdtempSync(join(tmpdir(), "sdeflow-consumer-"))
  try {
    mkdirSync(join(dir, "node_modules"))
    symlinkSync(resolve(import.meta.dir, "../.."), join(dir, "node_modules", "sdeflow"))
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "consumer", type: "module", dependencies: { sdeflow: `file:${resolve(import.meta.dir, "../..")}` } }))
    writeFileSync(join(dir, "main.ts"), source)
    const proc = Bun.spawn([process.execPath, "main.ts"], { cwd: dir, stdout: "pipe", stderr: "pipe" })
    const [stdout, stderr, code] = [await new Response(proc.stdout).text(), await new Response(proc.stderr).text(), await proc.exited]
    return { stdout, stderr, code }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
