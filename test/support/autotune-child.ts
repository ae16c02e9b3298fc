/** Child process for the autotune cache test: opens a device, asks for its tiles, prints them and the time taken. */
import { bunGpu } from "../../src/platform/bun.ts"
import { closeGpu, openGpu } from "../../src/runtime/gpu.ts"
import { tunedTiles } from "../../src/runtime/autotune.ts"

const gpu = await openGpu(bunGpu())
const started = performance.now()
const tiles = await tunedTiles(gpu)
console.log(JSON.stringify({ tiles, ms: performance.now() - started }))
closeGpu(gpu)
process.exit(0)
