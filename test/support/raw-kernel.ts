/** Running one hand-written WGSL kernel in a test: poisoned outputs, a validated dispatch, readback. */
import type { GpuHandle } from "../../src/runtime/gpu.ts"
import { readback, upload } from "../../src/runtime/buffers.ts"
import { scoped } from "../../src/runtime/scopes.ts"

export const POISON = 0xdeadbeef

/** A storage buffer of `words` u32s, every one set to POISON so elements the kernel skipped show. */
export const poisoned = (gpu: GpuHandle, words: number): GPUBuffer => upload(gpu.device, new Uint32Array(words).fill(POISON))

/**
 * Runs `wgsl` (entry `main`, workgroup size 64) once over `count` invocations with `buffers` bound in
 * order; a validation error fails the test instead of silently skipping the dispatch.
 */
export const dispatch = async (gpu: GpuHandle, wgsl: string, kinds: Parameters<GpuHandle["pipelines"]["get"]>[1], buffers: GPUBuffer[], count: number): Promise<void> => {
  const { pipeline, layout } = await gpu.pipelines.get(wgsl, kinds, "test kernel")
  await scoped(gpu.device, "test kernel dispatch", () => {
    const bindGroup = gpu.device.createBindGroup({
      layout,
      entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
    })
    const encoder = gpu.device.createCommandEncoder()
    const pass = encoder.beginComputePass()
    pass.setPipeline(pipeline)
    pass.setBindGroup(0, bindGroup)
    pass.dispatchWorkgroups(Math.ceil(count / 64))
    pass.end()
    gpu.device.queue.submit([encoder.finish()])
  })
}

export const readWords = async (gpu: GpuHandle, buffer: GPUBuffer): Promise<Uint32Array> => new Uint32Array(await readback(gpu.device, buffer))
