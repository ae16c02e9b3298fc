#!/usr/bin/env node
// `node_modules/.bin/typedoc`: TypeDoc's own command line, run with the TypeScript 6.0 beside it (docs/api.md says why).
import { spawnSync } from "node:child_process"
import { createRequire } from "node:module"

const cli = createRequire(import.meta.url).resolve("typedoc/package.json").replace(/package\.json$/, "bin/typedoc")
const { status } = spawnSync(process.execPath, [cli, ...process.argv.slice(2)], { stdio: "inherit" })
process.exit(status ?? 1)
