#!/usr/bin/env bun
/**
 * The `sdeflow` command line (Effect CLI). Each subcommand is one `Command` in `subcommands` below
 * (train, eval and sample live beside this file). Commands that need the device get `gpuLayer`: doctor through
 * `Command.provide`, the others inside their handler once their flags are valid — so neither `--help` nor
 * a bad flag ever opens one. Typed failures print their message and map to the exit codes of
 * exit-codes.ts (docs/cli.md); Ctrl-C / SIGTERM interrupt the handler, run its finalizers and exit 130.
 *
 * Test hook: `SDEFLOW_FAKE_NO_ADAPTER=1` swaps the WebGPU provider for one whose `requestAdapter`
 * resolves null, so tests can exercise the "no adapter" path on a machine that has one
 * (test/cli/doctor.test.ts). It is read here and nowhere else.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { CliError, Command, Flag } from "effect/cli"
import pkg from "../../../package.json" with { type: "json" }
import { bunGpu, bunPlatform } from "../bun.ts"
import { shaderCacheReport } from "../shader-cache.ts"
import { doctorReport, formatDoctor } from "../../runtime/doctor.ts"
import type { GpuError } from "../../runtime/errors.ts"
import { Gpu } from "../../runtime/gpu.ts"
import { exitCodes, exitWith, Exiting } from "./exit-codes.ts"
import { trainCommand } from "./train.ts"
import { evalCommand } from "./eval.ts"
import { sampleCommand } from "./sample.ts"

/** Process exit code when no WebGPU adapter exists (1 stays "something else failed"). */
export const noAdapterExitCode = exitCodes.usage

/** A WebGPU entry point that finds nothing, as on a machine without a Vulkan driver. */
const noAdapterGpu = (): GPU =>
  ({
    requestAdapter: async () => null,
    getPreferredCanvasFormat: () => "rgba8unorm",
    wgslLanguageFeatures: new Set<string>(),
  }) as unknown as GPU

/** The device layer for commands that compute; the provider is swappable only for the test hook above. */
const gpuLayer = Gpu.layerWith(process.env.SDEFLOW_FAKE_NO_ADAPTER === "1" ? noAdapterGpu : bunGpu, bunPlatform)

/** `sdeflow doctor [--json]`: which adapter WebGPU found, its limits and features, and a verdict. */
export const doctor = Command.make(
  "doctor",
  {
    json: Flag.Boolean("json").pipe(Flag.withDescription("Print only the report as JSON on stdout"), Flag.withDefault(false)),
  },
  ({ json }) =>
    Effect.gen(function* () {
      const report = doctorReport(yield* Gpu, Bun.version, shaderCacheReport())
      yield* Console.log(json ? JSON.stringify(report, null, 2) : formatDoctor(report))
    }),
).pipe(
  Command.withDescription("Check that WebGPU works here: adapter, limits, features"),
  Command.provide(gpuLayer),
)

/** Every subcommand; add new ones (bench) here. Device commands get the layer only once their flags are valid. */
const subcommands = [doctor, trainCommand(gpuLayer), evalCommand(gpuLayer), sampleCommand(gpuLayer)] as const

/** The root `sdeflow` command. */
export const sdeflow = Command.make("sdeflow").pipe(
  Command.withDescription("Write SDEs as typed expressions; train and sample diffusion models on WebGPU"),
  Command.withSubcommands(subcommands),
)

/** Device errors print their message (it says what to do) instead of a stack trace; no adapter exits 2. */
const explainGpuError = (e: GpuError) => exitWith(e._tag === "NoAdapter" ? noAdapterExitCode : exitCodes.failed)(e)

/** effect/cli has printed the help and the parse errors; only the exit code is left to set (2, as for bad values). */
const badCommandLine = (e: CliError.ShowHelp): Effect.Effect<never, Exiting | CliError.ShowHelp> =>
  Effect.fail(e.errors.length > 0 ? new Exiting({ message: e.message, code: exitCodes.usage }) : e)

if (import.meta.main) {
  sdeflow.pipe(
    Command.run({ version: pkg.version }),
    Effect.catchTag(["NoAdapter", "DeviceLost", "ShaderCompile", "Validation", "OutOfMemory"], explainGpuError),
    Effect.catchTag(["BadFlags", "ConfigError"], exitWith(exitCodes.usage)),
    Effect.catchTag("NoCheckpoint", exitWith(exitCodes.noCheckpoint)),
    Effect.catchTag(["TrainFailed", "EvalFailed", "SampleFailed"], exitWith(exitCodes.failed)),
    Effect.catchTag("ShowHelp", badCommandLine),
    Effect.provide(NodeServices.layer),
    NodeRuntime.runMain,
  )
}
