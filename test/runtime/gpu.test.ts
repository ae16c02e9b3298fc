import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { Effect, Exit } from "effect"
import { BunGpu, bunGpu, withGpu } from "../../src/platform/bun.ts"
import { Gpu } from "../../src/runtime/gpu.ts"
import { readFloat32, upload, readback } from "../../src/runtime/buffers.ts"
import { scoped } from "../../src/runtime/scopes.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

describe("Gpu service", () => {
  test("the layer acquires a device and destroys it when the scope closes", async () => {
    let captured: GPUDevice | undefined
    const adapter = await Effect.runPromise(
      Effect.gen(function* () {
        const gpu = yield* Gpu
        captured = gpu.device
        return gpu.adapter
      }).pipe(Effect.provide(BunGpu)),
    )
    expect(adapter.description.length).toBeGreaterThan(0)
    const lost = await captured!.lost
    expect(lost.reason).toBe("destroyed")
  })

  test("a failing adapter request surfaces as NoAdapter with the install hint", async () => {
    const noAdapter = () => ({ requestAdapter: async () => null }) as unknown as GPU
    const error = await Effect.runPromise(
      Effect.flip(Effect.gen(function* () { yield* Gpu }).pipe(Effect.provide(Gpu.layerWith(noAdapter)))),
    )
    expect(error._tag).toBe("NoAdapter")
    expect(error.message).toContain("mesa-vulkan-drivers")
  })

  test("an adapter request that throws is also NoAdapter", async () => {
    const throwing = () => ({ requestAdapter: async () => { throw new Error("driver exploded") } }) as unknown as GPU
    const exit = await Effect.runPromiseExit(Effect.gen(function* () { yield* Gpu }).pipe(Effect.provide(Gpu.layerWith(throwing))))
    expect(Exit.isFailure(exit)).toBe(true)
    expect(String(exit)).toContain("driver exploded")
  })

  test("invalid WGSL surfaces as ShaderCompile carrying Dawn's line:column message", async () => {
    await withGpu(async (gpu) => {
      const error = await gpu.pipelines.get("fn main( { }", ["read"], "broken").then(
        () => undefined,
        (e) => e,
      )
      expect(error?._tag).toBe("ShaderCompile")
      expect(error.message).toMatch(/:1:10 error: expected '\)'/)
      expect(error.wgsl).toContain("   1 | fn main( { }")
    })
  })

  test("a validation error inside a scope is a typed Validation error, never silent", async () => {
    await withGpu(async (gpu) => {
      const layout = gpu.device.createBindGroupLayout({
        entries: [{ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: "storage" } }],
      })
      // A bind group that leaves out the layout's only binding is invalid.
      const error = await scoped(gpu.device, "bad bind group", () => gpu.device.createBindGroup({ layout, entries: [] })).then(
        () => undefined,
        (e) => e,
      )
      expect(error?._tag).toBe("Validation")
      expect(error.message).toContain("bad bind group")
    })
  })
})

describe("buffers", () => {
  test("upload → readback of random data is bit-exact", async () => {
    await withGpu(async (gpu) => {
      const data = new Uint32Array(12_345).map(() => (Math.random() * 2 ** 32) >>> 0)
      const buffer = upload(gpu.device, data)
      const back = new Uint32Array(await readback(gpu.device, buffer, data.byteLength))
      expect(back).toEqual(data)
      buffer.destroy()
    })
  })

  test("the pool reuses a released buffer of the same bucket", async () => {
    await withGpu(async (gpu) => {
      const a = gpu.pool.acquire(1000)
      gpu.pool.release(a)
      const b = gpu.pool.acquire(900) // same 1024-byte bucket
      expect(b).toBe(a)
      const c = gpu.pool.acquire(900) // a is taken: a new buffer
      expect(c).not.toBe(a)
      expect(gpu.pool.allocations).toBe(2)
      expect(() => gpu.pool.release(gpu.device.createBuffer({ size: 4, usage: GPUBufferUsage.STORAGE }))).toThrow()
    })
  })

  test("a compute kernel runs through the cached pipeline", async () => {
    await withGpu(async (gpu) => {
      const wgsl = `@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> b: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  if (id.x < arrayLength(&a)) { b[id.x] = 2.0 * a[id.x] + 1.0; }
}`
      const { pipeline, layout } = await gpu.pipelines.get(wgsl, ["read", "read_write"])
      const again = await gpu.pipelines.get(wgsl, ["read", "read_write"])
      expect(again.pipeline).toBe(pipeline)
      expect(gpu.pipelines.created).toBe(1)
      const input = Float32Array.from({ length: 100 }, (_, i) => i)
      const a = upload(gpu.device, input)
      const b = gpu.pool.acquire(400)
      await scoped(gpu.device, "dispatch", () => {
        const enc = gpu.device.createCommandEncoder()
        const pass = enc.beginComputePass()
        pass.setPipeline(pipeline)
        pass.setBindGroup(0, gpu.device.createBindGroup({ layout, entries: [{ binding: 0, resource: { buffer: a } }, { binding: 1, resource: { buffer: b } }] }))
        pass.dispatchWorkgroups(2)
        pass.end()
        gpu.device.queue.submit([enc.finish()])
      })
      const out = await readFloat32(gpu.device, b, 100)
      expect(Array.from(out)).toEqual(Array.from(input, (x) => 2 * x + 1))
    })
  })
})

test("bunGpu is idempotent", () => {
  expect(bunGpu()).toBe(bunGpu())
})
