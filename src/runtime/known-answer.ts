/**
 * A few-millisecond proof that an adapter executes what it is given. Dawn offers its null backend when
 * no Vulkan driver loads: it reports plausible limits and features, validates everything, and executes
 * nothing (reads come back as zeros or garbage). Any adapter that cannot compute one tiny kernel right
 * is not an adapter.
 */
import { Usage, MapMode } from "./flags.ts"

const lanes = 64
const poison = 0xdeadbeef

const kernel = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(${lanes})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  out[id.x] = id.x * id.x * 2654435761u + 12345u;
}
`

/** What the kernel must write at lane `i` (u32 arithmetic, as WGSL wraps it). */
const expected = (i: number): number => (Math.imul(Math.imul(i, i), 2654435761) + 12345) >>> 0

/** How long a readback may take before the device counts as not executing at all. */
const timeoutMs = 20_000

/** Runs the kernel on `device`; resolves with null when every lane is right, else with what went wrong. */
export const knownAnswerFailure = async (device: GPUDevice): Promise<string | null> => {
  const bytes = lanes * 4
  device.pushErrorScope("validation")
  const out = device.createBuffer({ size: bytes, usage: Usage.STORAGE | Usage.COPY_SRC, mappedAtCreation: true })
  // Poisoned, so a backend that writes nothing cannot pass by leaving zeros that happen to match.
  new Uint32Array(out.getMappedRange()).fill(poison)
  out.unmap()
  const staging = device.createBuffer({ size: bytes, usage: Usage.MAP_READ | Usage.COPY_DST })
  try {
    const module = device.createShaderModule({ code: kernel, label: "known-answer" })
    const pipeline = device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } })
    const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: out } }] })
    const encoder = device.createCommandEncoder()
    const pass = encoder.beginComputePass()
    pass.setPipeline(pipeline)
    pass.setBindGroup(0, bindGroup)
    pass.dispatchWorkgroups(1)
    pass.end()
    encoder.copyBufferToBuffer(out, 0, staging, 0, bytes)
    device.queue.submit([encoder.finish()])
    const error = await device.popErrorScope()
    if (error) return `the known-answer kernel was rejected: ${error.message}`
    let timer: ReturnType<typeof setTimeout> | undefined
    const mapped = await Promise.race([
      staging.mapAsync(MapMode.READ).then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]).finally(() => clearTimeout(timer))
    if (!mapped) return `the known-answer kernel did not finish within ${timeoutMs / 1000} s`
    const got = new Uint32Array(staging.getMappedRange().slice(0))
    staging.unmap()
    const wrong = [...got.keys()].filter((i) => got[i] !== expected(i))
    if (wrong.length === 0) return null
    const i = wrong[0]!
    return `the known-answer kernel computed ${wrong.length} of ${lanes} values wrong (lane ${i}: got ${got[i]}, expected ${expected(i)})`
  } catch (e) {
    return `the known-answer kernel failed: ${e instanceof Error ? e.message : String(e)}`
  } finally {
    out.destroy()
    staging.destroy()
  }
}
