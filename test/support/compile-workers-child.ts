/** Child for the compile-workers test: compiles a program of several forms on a cold cache (with workers) and checks it against the oracle. */
import { compile } from "../../src/compile/compile.ts"
import { openBunGpu } from "../../src/platform/bun.ts"
import { closeGpu } from "../../src/runtime/gpu.ts"
import { conv2d, matmul, type Tensor } from "../../src/ir/tensor.ts"
import { inputsFor, mismatches, reduction } from "./backends.ts"

const fn = (i: Record<string, Tensor>) => ({
  a: conv2d(i.x!, i.w!, { padding: 1 }).silu(),
  b: matmul(i.p!, i.q!).tanh(),
  c: i.p!.exp().sum([1]),
  d: i.q!.sigmoid().mul(3),
  e: conv2d(i.x!, i.w!, { padding: 1, stride: 2 }).square(),
  f: matmul(i.p!, i.q!).abs(),
  g: i.x!.mean([2, 3]),
})
const specs = { x: [2, 3, 8, 8], w: [4, 3, 3, 3], p: [9, 12], q: [12, 20] }
const inputs = inputsFor(specs, 3)
const gpu = await openBunGpu()
const progress: number[] = []
let total = 0
const exe = await compile(fn, specs, { backend: gpu, onCompile: (p) => (progress.push(p.done), (total = p.total)) })
const oracle = await compile(fn, specs, { backend: "cpu", precision: "f32" })
exe.run(inputs)
oracle.run(inputs)
let agree = true
for (const out of exe.program.outputs) agree &&= mismatches(await exe.read(out.name), await oracle.read(out.name), reduction).length === 0
closeGpu(gpu)
console.log(JSON.stringify({ agree, total, progress }))
process.exit(0)
