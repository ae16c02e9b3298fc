/**
 * What limits a matmul on lavapipe? Hand-written 1024³ kernels in the layout of our template
 * (src/compile/lane-matmul.ts: every lane of a workgroup on the same output rows, 4 columns per thread,
 * stored as one vec4), differing only in how the two operands reach the lanes:
 *
 * - `storage`: both from storage buffers. Mesa 25's lavapipe loads a storage buffer per lane and per
 *   component, bounds-checked, even where every lane reads the same address (seen in
 *   `GALLIVM_DEBUG=asm`), so A's "uniform" loads cost as much as B's gathered ones.
 * - `subgroup`: lane s loads A at k0 + s, `subgroupBroadcast` hands each value to all lanes.
 * - `subgroup+texture`: B also read through an rgba32float texture (one 16-byte fetch per lane).
 * - `no loads`: the same FMAs on values already in registers — the ceiling for this loop shape.
 *
 * Each is checked against a float64 dot product before it is timed (under a validation scope). Run:
 *   npx bun run bench/matmul-layouts.ts [--size 1024]
 */
import { openGpu, closeGpu } from "../src/runtime/gpu.ts"
import { bunGpu } from "../src/platform/bun.ts"
import { readFloat32, STORAGE, upload } from "../src/runtime/buffers.ts"
import { TextureUsage } from "../src/runtime/flags.ts"
import { scoped } from "../src/runtime/scopes.ts"

const sizeFlag = process.argv.indexOf("--size")
const n = sizeFlag > 0 ? Number(process.argv[sizeFlag + 1]) : 1024
if (!Number.isInteger(n) || n % 256 !== 0) throw new Error(`--size must be a multiple of 256, got ${process.argv[sizeFlag + 1]}`)

type Operands = "storage" | "subgroup" | "subgroup+texture" | "no loads"
/** Lanes per subgroup chunk (lavapipe's subgroups are 8 wide with AVX2). */
const CHUNK = 8

/** C = A·B (n×n, row-major): each thread owns `rows` rows × 4 columns; k advances CHUNK at a time. */
const kernel = (operands: Operands, rows: number): string => {
  const r = Array.from({ length: rows }, (_, i) => i)
  const j = Array.from({ length: CHUNK }, (_, i) => i)
  const texture = operands === "subgroup+texture"
  const aAt = (i: number, k: string) => `a[(row0 + ${i}) * ${n} + ${k}]`
  const loadA = (i: number): string =>
    operands === "storage" ? "" : operands === "no loads" ? `let av${i} = a_reg${i} * f32(k0);` : `let av${i} = ${aAt(i, "k0 + s")};`
  const a = (i: number, jj: number): string =>
    operands === "storage" ? aAt(i, `k0 + ${jj}`) : operands === "no loads" ? `(av${i} + ${jj}.0)` : `subgroupBroadcast(av${i}, ${jj}u)`
  const b = (jj: number): string =>
    texture ? `textureLoad(bt, vec2<i32>(col4, k0 + ${jj}), 0)` : operands === "no loads" ? `b_reg * f32(${jj + 1})` : `b[(k0 + ${jj}) * ${n / 4} + col4]`
  return `${operands.startsWith("subgroup") ? "enable subgroups;" : ""}
@group(0) @binding(0) var<storage, read> a: array<f32>;
${texture ? "@group(0) @binding(1) var bt: texture_2d<f32>;" : "@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;"}
@group(0) @binding(2) var<storage, read_write> c: array<vec4<f32>>;
@compute @workgroup_size(64, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>${operands.startsWith("subgroup") ? ", @builtin(subgroup_invocation_id) sg: u32" : ""}) {
  let row0 = i32(wg.y) * ${rows};
  let col4 = i32(wg.x) * 64 + i32(lid.x);
  let s = i32(${operands.startsWith("subgroup") ? `sg % ${CHUNK}u` : "0"});
  ${operands === "no loads" ? [`let b_reg = ${texture ? "" : "b[col4]"};`, ...r.map((i) => `let a_reg${i} = a[(row0 + ${i}) * ${n}];`)].join("\n  ") : ""}
  ${r.map((i) => `var acc${i} = vec4<f32>(0.0);`).join("\n  ")}
  for (var k0: i32 = 0; k0 < ${n}; k0 += ${CHUNK}) {
    ${r.map(loadA).join("\n    ")}
    ${j.map((jj) => [`{ let bv = ${b(jj)};`, ...r.map((i) => `  acc${i} = fma(vec4<f32>(${a(i, jj)}), bv, acc${i});`), "}"].join("\n    ")).join("\n    ")}
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
// B as texels of 4 adjacent columns: texel (column / 4, k).
const textureB = device.createTexture({ size: [n / 4, n], format: "rgba32float", usage: TextureUsage.TEXTURE_BINDING | TextureUsage.COPY_DST })
const expected = (row: number, col: number) => {
  let s = 0
  for (let k = 0; k < n; k++) s += a[row * n + k]! * b[k * n + col]!
  return s
}

console.log(`matmul ${n}³ on ${gpu.adapter.description}: lanes on shared rows, 4 columns per thread (best of 3; texture runs include the copy of B)`)
for (const operands of ["storage", "subgroup", "subgroup+texture", "no loads"] as const) {
  if (operands.startsWith("subgroup") && !gpu.features.has("subgroups")) {
    console.log(`  ${operands}: skipped (no subgroups on this adapter)`)
    continue
  }
  for (const rows of [8, 16]) {
    const pipeline = device.createComputePipeline({ layout: "auto", compute: { module: device.createShaderModule({ code: kernel(operands, rows) }), entryPoint: "main" } })
    const bindGroup = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: bufA } },
        { binding: 1, resource: operands === "subgroup+texture" ? textureB.createView() : { buffer: bufB } },
        { binding: 2, resource: { buffer: bufC } },
      ],
    })
    const once = async () => {
      const encoder = device.createCommandEncoder()
      if (operands === "subgroup+texture") encoder.copyBufferToTexture({ buffer: bufB, bytesPerRow: n * 4, rowsPerImage: n }, { texture: textureB }, [n / 4, n])
      const pass = encoder.beginComputePass()
      pass.setPipeline(pipeline)
      pass.setBindGroup(0, bindGroup)
      pass.dispatchWorkgroups(n / 256, n / rows)
      pass.end()
      device.queue.submit([encoder.finish()])
      await device.queue.onSubmittedWorkDone()
    }
    // An invalid command buffer is skipped silently and would "run" in no time: validate before timing.
    await (await scoped(device, `matmul probe, ${operands}, ${rows} rows`, once))
    const times: number[] = []
    for (let rep = 0; rep < 3; rep++) {
      const start = performance.now()
      await once()
      times.push(performance.now() - start)
    }
    if (operands !== "no loads") {
      const c = await readFloat32(device, bufC, n * n)
      const error = Math.max(...[[0, 0], [n - 1, n - 1], [5, 777 % n], [n / 2 + 3, 2]].map(([row, col]) => Math.abs(c[row! * n + col!]! - expected(row!, col!))))
      if (!(error < 1e-3)) throw new Error(`${operands}, ${rows} rows: wrong result (error ${error})`)
    }
    const ms = Math.min(...times)
    console.log(`  ${operands.padEnd(17)} ${rows.toString().padStart(2)} rows: ${ms.toFixed(1).padStart(6)} ms  ${((2 * n ** 3) / ms / 1e6).toFixed(2).padStart(6)} GFLOP/s`)
  }
}
closeGpu(gpu)
