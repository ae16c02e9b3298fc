/** Typed failures of the WebGPU runtime. Each carries a `message` a person can act on. */
import { Data } from "effect"

/** No WebGPU adapter: the message says what to install. */
export class NoAdapter extends Data.TaggedError("NoAdapter")<{ readonly message: string }> {}

/** The device was lost (destroyed, driver reset, out of memory). */
export class DeviceLost extends Data.TaggedError("DeviceLost")<{
  readonly message: string
  readonly reason: string
}> {}

/** WGSL rejected by Dawn; `message` holds Dawn's text with line:column, `wgsl` the numbered source. */
export class ShaderCompile extends Data.TaggedError("ShaderCompile")<{
  readonly message: string
  readonly label: string
  readonly wgsl: string
}> {}

/** A WebGPU validation error caught by an error scope (invalid bind group, buffer misuse, ...). */
export class Validation extends Data.TaggedError("Validation")<{
  readonly message: string
  readonly operation: string
}> {}

/** Device memory could not be allocated. */
export class OutOfMemory extends Data.TaggedError("OutOfMemory")<{
  readonly message: string
  readonly operation: string
}> {}

export type GpuError = NoAdapter | DeviceLost | ShaderCompile | Validation | OutOfMemory

/** The install hint printed whenever no adapter is found. */
export const installHint = [
  "No WebGPU adapter was found. sdeflow needs a Vulkan driver (a GPU's, or Mesa lavapipe on the CPU).",
  "On Debian 12 (as root):",
  "  sed -i 's/^Suites: bookworm bookworm-updates$/Suites: bookworm bookworm-updates bookworm-backports/' /etc/apt/sources.list.d/debian.sources",
  "  apt-get update && apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1",
  "On Debian 13 / Ubuntu 24.04+: apt-get install -y mesa-vulkan-drivers libvulkan1",
  "Then check with: npx bun src/platform/cli/main.ts doctor",
].join("\n")
