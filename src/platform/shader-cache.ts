/**
 * Mesa's on-disk shader cache, as `sdeflow doctor` reports it. On lavapipe every pipeline is compiled
 * by LLVM at its first use and the result kept here, so whether it is warm decides whether a first run
 * spends minutes compiling or seconds.
 */
import { existsSync, readdirSync, statSync } from "node:fs"
import { homedir } from "node:os"
import { join } from "node:path"

export interface ShaderCacheReport {
  readonly state: "warm" | "empty" | "disabled"
  /** The folder Mesa uses (MESA_SHADER_CACHE_DIR, else $XDG_CACHE_HOME or ~/.cache). */
  readonly path: string
  readonly bytes: number
}

/** Bytes of cached shaders below `path`: Mesa's preallocated index and empty part headers do not count. */
const sizeOf = (path: string): number => {
  try {
    const s = statSync(path)
    if (!s.isDirectory()) return path.endsWith("/index") || s.size <= 20 ? 0 : s.size
    return readdirSync(path).reduce((total, name) => total + sizeOf(join(path, name)), 0)
  } catch {
    return 0
  }
}

/** Below this the cache holds no more than a few small kernels (doctor's own check writes one). */
const warmBytes = 512 * 1024

const truthy = (v: string | undefined) => v !== undefined && /^(1|true|yes)$/i.test(v)

export const shaderCacheReport = (env: Record<string, string | undefined> = process.env): ShaderCacheReport => {
  const root = env.MESA_SHADER_CACHE_DIR || join(env.XDG_CACHE_HOME || join(homedir(), ".cache"))
  if (truthy(env.MESA_SHADER_CACHE_DISABLE) || truthy(env.MESA_GLSL_CACHE_DISABLE)) return { state: "disabled", path: root, bytes: 0 }
  // Mesa keeps its caches in folders named mesa_shader_cache* under the root (the root itself when set explicitly).
  const folders = env.MESA_SHADER_CACHE_DIR ? [root] : existsSync(root) ? readdirSync(root).filter((n) => n.startsWith("mesa_shader_cache")).map((n) => join(root, n)) : []
  const bytes = folders.reduce((total, f) => total + sizeOf(f), 0)
  return { state: bytes >= warmBytes ? "warm" : "empty", path: root, bytes }
}
