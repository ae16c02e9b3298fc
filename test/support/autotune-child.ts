/** Child process for the autotune cache test: opens a device, asks for its tiles, prints them and the time taken. */
import { openBunGpu } from "../../src/platform/bun.ts"
import { closeGpu } from "../../src/runtime/gpu.ts"
import { tunedTiles } from "../../src/runtime/autotune.ts"

const gpu = await openBunGpu()
const started = performance.now()
const tiles = await tunedTiles(gpu)
console.log(JSON.stringify({ tiles, ms: performance.now() - started }))
closeGpu(gpu)
process.exit(0)
