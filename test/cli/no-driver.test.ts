/**
 * A machine with no Vulkan driver, simulated by pointing the Vulkan loader at a manifest that does not
 * exist. Dawn then offers its null backend, which validates everything and executes nothing: every
 * entry point must refuse it as "no adapter", naming the missing driver, instead of "training" on it.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { judgeDoctor, probeAdapter } from "../../scripts/setup-webgpu.mjs"
import { shaderCacheReport } from "../../src/platform/shader-cache.ts"
import { isNullBackend } from "../../src/runtime/gpu.ts"

setDefaultTimeout(120_000)

const noDriver = { VK_DRIVER_FILES: "/nonexistent.json", VK_ICD_FILENAMES: "/nonexistent.json" }

/** Runs a Bun command in a child with the Vulkan loader pointed at no driver. */
const withoutDriver = (args: string[]) => {
  const r = Bun.spawnSync([process.execPath, ...args], { env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? "/tmp", ...noDriver } })
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() }
}

describe("no Vulkan driver: Dawn's null backend is not an adapter", () => {
  test("doctor exits 2, says it was offered the null backend and which driver setting is missing", () => {
    const r = withoutDriver(["src/platform/cli/main.ts", "doctor"])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("null backend")
    expect(r.stderr).toContain("VK_DRIVER_FILES=/nonexistent.json")
    expect(r.stderr).toContain("mesa-vulkan-drivers")
    expect(r.stdout).not.toContain("verdict")
  })

  test("examples/vp-cifar.ts exits 2 with the reason and the install hint, before touching any data", () => {
    const r = withoutDriver(["examples/vp-cifar.ts", "--out", join(mkdtempSync(join(tmpdir(), "sdeflow-nodriver-")), "run")])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("null backend")
    expect(r.stderr).toContain("apt-get install -y -t bookworm-backports mesa-vulkan-drivers")
    expect(r.stdout).not.toContain("training")
  })

  test("compiling through withGpu fails with NoAdapter before any kernel runs", () => {
    const script = [
      'import { withGpu, compile } from "./index.ts"',
      "try {",
      "  await withGpu((gpu) => compile(({ x }) => x.mul(2), { x: [4] }, { backend: gpu }))",
      '  console.log("compiled")',
      "} catch (e) { console.log(`${e._tag}: ${e.message.split(\"\\n\")[0]}`) }",
    ].join("\n")
    const r = withoutDriver(["-e", script])
    expect(r.stdout.trim()).toBe("NoAdapter: WebGPU offered only Dawn's null backend, which executes nothing: no Vulkan driver loaded.")
  })

  test("the postinstall probe asks doctor, so it too judges the null backend as no adapter", () => {
    const verdict = probeAdapter({ ...process.env, ...noDriver })
    expect(verdict.found).toBe(false)
    expect(verdict.detail).toContain("null backend")
    // With the real driver the same probe finds this machine's adapter.
    expect(probeAdapter(process.env).found).toBe(true)
  })

  test("judgeDoctor: exit 0 with a report is an adapter; exit 2 gives doctor's reason, not Dawn's warnings", () => {
    expect(judgeDoctor({ status: 0, stdout: JSON.stringify({ adapter: { description: "llvmpipe" } }), stderr: "" })).toEqual({ found: true, detail: "WebGPU adapter found: llvmpipe" })
    const stderr = "Warning: vkCreateInstance: Found no drivers!\n    at CheckVkSuccessImpl (x.cpp:1)\n\nWebGPU offered only Dawn's null backend.\nmore"
    expect(judgeDoctor({ status: 2, stdout: "", stderr })).toEqual({ found: false, detail: "WebGPU offered only Dawn's null backend" })
    expect(judgeDoctor({ status: 1, stdout: "", stderr: "boom" }).detail).toContain("the WebGPU probe failed (boom)")
  })

  test("the null backend is recognised by name", () => {
    expect(isNullBackend({ device: "null-backend", description: "" })).toBe(true)
    expect(isNullBackend({ device: "llvmpipe-llvm-15", description: "llvmpipe: Mesa 25.0.7" })).toBe(false)
  })
})

describe("the shader cache doctor reports", () => {
  test("an empty folder is empty, a disabled cache is disabled, and compiling fills it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sdeflow-cache-test-"))
    expect(shaderCacheReport({ MESA_SHADER_CACHE_DIR: dir }).state).toBe("empty")
    expect(shaderCacheReport({ MESA_SHADER_CACHE_DIR: dir, MESA_SHADER_CACHE_DISABLE: "true" }).state).toBe("disabled")
    const r = Bun.spawnSync([process.execPath, "bench/compile.ts", "--child", "em-step"], { env: { ...process.env, MESA_SHADER_CACHE_DIR: dir } })
    expect(r.exitCode).toBe(0)
    expect(shaderCacheReport({ MESA_SHADER_CACHE_DIR: dir }).bytes).toBeGreaterThan(0)
  })
})
