#!/usr/bin/env bun
/**
 * Serves the web example: builds `app.ts` for the browser from the same sources as the library, and offers
 * a checkpoint to load (the newest of a run folder written by `sdeflow train --preset swissroll`).
 *
 *   npx bun run examples/web/serve.ts [--port 8080] [--checkpoint runs/sr]
 */
import { parseArgs } from "node:util"
import { join } from "node:path"
import { existsSync, readdirSync, statSync } from "node:fs"

const { values } = parseArgs({ options: { port: { type: "string", default: "8080" }, checkpoint: { type: "string" }, host: { type: "string", default: "127.0.0.1" } } })

/** A checkpoint file, or the newest `ckpt-*.safetensors` of a run folder (or of its checkpoints/). */
const checkpointFile = (path: string | undefined): string | undefined => {
  if (!path || !existsSync(path)) return undefined
  if (statSync(path).isFile()) return path
  const folder = existsSync(join(path, "checkpoints")) ? join(path, "checkpoints") : path
  const newest = readdirSync(folder).filter((f) => /^ckpt-\d+\.safetensors$/.test(f)).sort().at(-1)
  return newest && join(folder, newest)
}

const build = await Bun.build({ entrypoints: [join(import.meta.dir, "app.ts")], target: "browser", minify: false })
if (!build.success) {
  console.error(build.logs.map(String).join("\n"))
  process.exit(1)
}
const app = await build.outputs[0]!.text()
const checkpoint = checkpointFile(values.checkpoint)
if (values.checkpoint && !checkpoint) console.error(`no checkpoint at ${values.checkpoint}: the page can still train a model itself`)

const server = Bun.serve({
  hostname: values.host,
  port: Number(values.port),
  fetch(request) {
    const path = new URL(request.url).pathname
    if (path === "/" || path === "/index.html") return new Response(Bun.file(join(import.meta.dir, "index.html")))
    if (path === "/app.js") return new Response(app, { headers: { "content-type": "text/javascript" } })
    if (path === "/checkpoint.safetensors" && checkpoint) return new Response(Bun.file(checkpoint))
    return new Response("not found", { status: 404 })
  },
})
console.log(`sdeflow web example at ${server.url}${checkpoint ? ` (checkpoint ${checkpoint})` : ""}`)
