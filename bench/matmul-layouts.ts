/**
 * How far can a matmul go on lavapipe in the layout our template uses (src/compile/lane-matmul.ts)?
 * Hand-written 1024³ kernels: every lane of a workgroup on the same output rows, so A's loads are
 * uniform (one scalar load broadcast to all lanes) and only B is gathered, 4 columns per thread stored
 * as one vec4 — swept over rows per thread and k-unrolling. The spread of these numbers is the room
 * left to tiling choices; the template should sit near the best of them. Run:
 *   npx bun run bench/matmul-layouts.ts [--size 1024]
 */
import { openGpu, closeGpu } from "../src/runtime/gpu.ts"
import { bunGpu } from "../src/platform/bun.ts"
import { readFloat32, STORAGE, upload } from "../src/runtime/buffers.ts"
import { scoped } from "../src/runtime/scopes.ts"

const sizeFlag = process.argv.indexOf("--size")
const n = sizeFlag > 0 ? Number(process.argv[sizeFlag + 1]) : 1024
if (!Number.isInteger(n) || n % 256 !== 0) throw new Error(`--size must be a multiple of 256, got ${process.argv[sizeFlag + 1]}`)

/** C = A·B (all n×n, row-major); each thread owns `rows` rows × 4 columns, k unrolled by `unroll`. */
const kernel = (rows: number, unroll: number): string => {
  const r = Array.from({ length: rows }, (_, i) => i)
  const u = Array.from({ length: unroll }, (_, i) => i)
  return `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> c: array<vec4<f32>>;
@compute @workgroup_size(64, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row0 = i32(wg.y) * ${rows};
  let col4 = i32(wg.x) * 64 + i32(lid.x);
  ${r.map((i) => `var acc${i} = vec4<f32>(0.0);`).join("\n  ")}
  for (var k: i32 = 0; k < ${n}; k += ${unroll}) {
    ${u.map((j) => `let b${j} = b[(k + ${j}) * ${n / 4} + col4];`).join("\n    ")}
    ${r.flatMap((i) => u.map((j) => `acc${i} = fma(vec4<f32>(a[(row0 + ${i}) * ${n} + k + ${j}]), b${j}, acc${i});`)).join("\n    ")}
  }
  ${r.map((i) => `c[(row0 + ${i}) * ${n / 4} + col4] = acc${i};`).join("\n  ")}
}`
}

const gpu = await openGpu(bunGpu())
const device = gpu.device
const a = Float32Array.from({ length: n * n }, (_, i) => Math.sin(i * 0.37))
const b = Float32Array.from({ length: n * n }, (_, i) => Math.cos(i * 0.11))
const [bufA, bufB] = [upload(device, a), upload(device, b)]
const bufC = device.createBuffer({ size: n * n * 4, usage: STORAGE })
const expected = (row: number, col: number) => {
  let s = 0
  for (let k = 0; k < n; k++) s += a[row * n + k]! * b[k * n + col]!
  return s
}

console.log(`matmul ${n}³ on ${gpu.adapter.description}: uniform-A layouts (best of 3)`)
for (const [rows, unroll] of [[2, 1], [4, 1], [8, 1], [8, 2], [16, 1], [16, 2]] as const) {
  const pipeline = device.createComputePipeline({ layout: "auto", compute: { module: device.createShaderModule({ code: kernel(rows, unroll) }), entryPoint: "main" } })
  const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [bufA, bufB, bufC].map((buffer, binding) => ({ binding, resource: { buffer } })) })
  const once = async () => {
    const encoder = device.createCommandEncoder()
    const pass = encoder.beginComputePass()
    pass.setPipeline(pipeline)
    pass.setBindGroup(0, bindGroup)
    pass.dispatchWorkgroups(n / 256, n / rows)
    pass.end()
    device.queue.submit([encoder.finish()])
    await device.queue.onSubmittedWorkDone()
  }
  // An invalid command buffer is skipped silently and would "run" in no time: validate before timing.
  await (await scoped(device, `matmul probe, ${rows} rows`, once))
  const times: number[] = []
  for (let rep = 0; rep < 3; rep++) {
    const start = performance.now()
    await once()
    times.push(performance.now() - start)
  }
  const c = await readFloat32(device, bufC, n * n)
  const error = Math.max(...[[0, 0], [n - 1, n - 1], [5, 777 % n]].map(([row, col]) => Math.abs(c[row! * n + col!]! - expected(row!, col!))))
  if (!(error < 1e-3)) throw new Error(`rows ${rows}, unroll ${unroll}: wrong result (error ${error})`)
  const ms = Math.min(...times)
  console.log(`  ${rows.toString().padStart(2)} rows × 4 cols per thread, k unrolled ×${unroll}: ${ms.toFixed(1).padStart(6)} ms  ${((2 * n ** 3) / ms / 1e6).toFixed(2).padStart(6)} GFLOP/s`)
}
closeGpu(gpu)
