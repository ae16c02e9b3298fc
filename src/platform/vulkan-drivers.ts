/**
 * Why Vulkan found no driver, in words a person can act on: which manifests the loader was pointed at
 * (VK_DRIVER_FILES / VK_ICD_FILENAMES) or which it would search, and whether the loader library exists.
 * Read when Dawn offers no real adapter, to say what is missing instead of only that something is.
 */
import { existsSync, readdirSync } from "node:fs"

const manifestDirs = ["/usr/share/vulkan/icd.d", "/usr/local/share/vulkan/icd.d", "/etc/vulkan/icd.d"]
const loaderPaths = [
  "/usr/lib/x86_64-linux-gnu/libvulkan.so.1",
  "/usr/lib/aarch64-linux-gnu/libvulkan.so.1",
  "/usr/lib64/libvulkan.so.1",
  "/usr/lib/libvulkan.so.1",
  "/usr/local/lib/libvulkan.so.1",
]

const listJson = (dir: string): string[] => {
  try {
    return readdirSync(dir).filter((f) => f.endsWith(".json"))
  } catch {
    return []
  }
}

/** One or more lines naming the missing piece of the Vulkan set-up (or what is there, when nothing is). */
export const vulkanDriverReport = (env: Record<string, string | undefined> = process.env): string => {
  const lines: string[] = []
  if (process.platform === "linux" && !loaderPaths.some((p) => existsSync(p)))
    lines.push("The Vulkan loader (libvulkan.so.1, Debian package libvulkan1) is not installed.")
  for (const name of ["VK_DRIVER_FILES", "VK_ICD_FILENAMES"] as const) {
    const value = env[name]
    if (!value) continue
    const files = value.split(":").filter((f) => f !== "")
    const missing = files.filter((f) => !existsSync(f))
    lines.push(
      missing.length === files.length
        ? `${name}=${value} points the Vulkan loader only at driver manifests that do not exist, so no Vulkan driver can load.`
        : `${name}=${value} restricts the Vulkan loader to these manifests${missing.length ? ` (missing: ${missing.join(", ")})` : ""}.`,
    )
  }
  if (!env.VK_DRIVER_FILES && !env.VK_ICD_FILENAMES && process.platform === "linux") {
    const found = manifestDirs.flatMap((d) => listJson(d).map((f) => `${d}/${f}`))
    lines.push(
      found.length === 0
        ? `No Vulkan driver is installed: no driver manifest in ${manifestDirs.join(", ")} (lavapipe's is lvp_icd.*.json, Debian package mesa-vulkan-drivers).`
        : `Vulkan driver manifests found: ${found.join(", ")}; none of them gave Dawn a working adapter (Debian 12's own Mesa 22 lavapipe is rejected: it needs Mesa >= 24).`,
    )
  }
  return lines.join("\n")
}
