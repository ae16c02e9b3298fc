#!/usr/bin/env bun
/**
 * The `sdeflow` command line (Effect CLI). Each subcommand is one `Command` in `subcommands` below;
 * commands that need the device add `Command.provide(gpuLayer)` so `sdeflow --help` never opens one.
 *
 * Test hook: `SDEFLOW_FAKE_NO_ADAPTER=1` swaps the WebGPU provider for one whose `requestAdapter`
 * resolves null, so tests can exercise the "no adapter" path on a machine that has one
 * (test/cli/doctor.test.ts). It is read here and nowhere else.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Console, Data, Effect, Runtime } from "effect"
import { Command, Flag } from "effect/cli"
import pkg from "../package.json" with { type: "json" }
import { bunGpu } from "./platform/bun.ts"
import { doctorReport, formatDoctor } from "./runtime/doctor.ts"
import type { GpuError } from "./runtime/errors.ts"
import { Gpu } from "./runtime/gpu.ts"

/** Process exit code when no WebGPU adapter exists (1 stays "something else failed"). */
export const noAdapterExitCode = 2

/** A WebGPU entry point that finds nothing, as on a machine without a Vulkan driver. */
const noAdapterGpu = (): GPU =>
  ({
    requestAdapter: async () => null,
    getPreferredCanvasFormat: () => "rgba8unorm",
    wgslLanguageFeatures: new Set<string>(),
  }) as unknown as GPU

/** The device layer for commands that compute; the provider is swappable only for the test hook above. */
const gpuLayer = Gpu.layerWith(process.env.SDEFLOW_FAKE_NO_ADAPTER === "1" ? noAdapterGpu : bunGpu)

/** `sdeflow doctor [--json]`: which adapter WebGPU found, its limits and features, and a verdict. */
export const doctor = Command.make(
  "doctor",
  {
    json: Flag.Boolean("json").pipe(Flag.withDescription("Print only the report as JSON on stdout"), Flag.withDefault(false)),
  },
  ({ json }) =>
    Effect.gen(function* () {
      const report = doctorReport(yield* Gpu, Bun.version)
      yield* Console.log(json ? JSON.stringify(report, null, 2) : formatDoctor(report))
    }),
).pipe(
  Command.withDescription("Check that WebGPU works here: adapter, limits, features"),
  Command.provide(gpuLayer),
)

/** Every subcommand; add new ones (train, eval, sample, bench) here. */
const subcommands = [doctor] as const

/** The root `sdeflow` command. */
export const sdeflow = Command.make("sdeflow").pipe(
  Command.withDescription("Write SDEs as typed expressions; train and sample diffusion models on WebGPU"),
  Command.withSubcommands(subcommands),
)

/** A failure already explained on stderr; carries the process exit code. */
class Exiting extends Data.TaggedError("Exiting")<{ readonly message: string; readonly code: number }> {
  get [Runtime.errorExitCode]() {
    return this.code
  }
  readonly [Runtime.errorReported] = false
}

/** Device errors print their message (it says what to do) instead of a stack trace; no adapter exits 2. */
const explainGpuError = (e: GpuError) =>
  Console.error(e.message).pipe(
    Effect.andThen(Effect.fail(new Exiting({ message: e.message, code: e._tag === "NoAdapter" ? noAdapterExitCode : 1 }))),
  )

if (import.meta.main) {
  sdeflow.pipe(
    Command.run({ version: pkg.version }),
    Effect.catchTag(["NoAdapter", "DeviceLost", "ShaderCompile", "Validation", "OutOfMemory"], explainGpuError),
    Effect.provide(NodeServices.layer),
    NodeRuntime.runMain,
  )
}
