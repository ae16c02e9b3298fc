/**
 * sdeflow's tensor, compiler, device and file API (the package entry `index.ts` adds the DSL, networks and
 * training). Import from "sdeflow" in any Bun script:
 *   import { compile, withGpu, input, normal, grad } from "sdeflow"
 * @module
 */
// Tensors and graph building
export { Tensor, constant, full, zeros, ones, input, tensorData, where, concat, matmul, conv2d, random, normal, uniform, rademacher, stopGradient } from "./ir/tensor.ts"
export type { TensorLike } from "./ir/tensor.ts"
/** Options of `random`, `normal`, `uniform` and `rademacher` (which salt stream keys the draw). */
export type { RandomOptions } from "./ir/tensor.ts"
/** The named salt streams a random draw can be keyed by. */
export type { SaltStream } from "./ir/tensor.ts"
/** A tensor's shape: one extent per axis. */
export type { Shape } from "./ir/shape.ts"
/** A tensor's element type: "f32", "i32", "u32" or "bool" (a safetensors file's are `SafetensorsDtype`). */
export type { DType } from "./ir/node.ts"
/** The law `random` draws from: "uniform", "normal" or "rademacher". */
export type { Distribution } from "./ir/node.ts"
export { ShapeError, ProgramError } from "./ir/errors.ts"
// Autodiff
export { grad, vjp, valueAndGrad } from "./ir/autodiff.ts"
// Compilation and execution
export { compile, programOf, trace } from "./compile/compile.ts"
export type { CompileOptions, InputSpec } from "./compile/compile.ts"
/** What a compiled function returns: one tensor (output "out") or tensors by output name. */
export type { Outputs } from "./compile/compile.ts"
/** `compile` owned by an Effect Scope: the executable is destroyed when the scope closes. */
export { compileScoped } from "./effect/compile-scoped.ts"
/** Why `compileScoped` failed: ShapeError, ProgramError, InvalidOption or a device error. */
export type { CompileError } from "./effect/compile-scoped.ts"
/** Float precision of the CPU backend ("f32" or "f64"). */
export type { Precision } from "./compile/js.ts"
/** The compiled program an executable replays (`exe.program`): its inputs, outputs and kernels. */
export type { Program } from "./compile/program.ts"
/** One input of a program: name, shape, dtype. */
export type { ProgramInput } from "./compile/program.ts"
/** One output of a program: name, shape, dtype. */
export type { ProgramOutput } from "./compile/program.ts"
/** What `explain` reports about a compiled function: its kernels, dispatches and pipelines. */
export type { Explanation } from "./compile/explain.ts"
/** One kernel in an `Explanation`. */
export type { KernelReport } from "./compile/explain.ts"
/** Pipeline compilation progress, as `CompileOptions.onCompile` and `solve`'s `onCompile` receive it. */
export type { CompileProgress } from "./runtime/pipelines.ts"
export { explain, formatExplanation } from "./compile/explain.ts"
export type { Executable, DeviceValue, RunOptions } from "./runtime/executable.ts"
/** What `exe.run` accepts per input: a host array, a number (scalars) or a `DeviceValue`. */
export type { InputValue } from "./runtime/executable.ts"
/** A host array an executable accepts or returns. */
export type { HostArray } from "./runtime/executable.ts"
/** The runs of `exe.runChain`: steps, per-step scalars and run options, outputs fed back as inputs. */
export type { Chain } from "./runtime/executable.ts"
/** One kernel's time from `exe.profile`. */
export type { KernelTime } from "./runtime/executable.ts"
export type { ReadArrays, OutputArray } from "./runtime/executable.ts"
// Device. Which entry point when: a plain async script `withGpu`; an Effect program the `BunGpu` layer, read as
// `yield* Gpu`; a device held across calls `openBunGpu` … `closeGpu` (index.ts's package comment says more).
export { withGpu, BunGpu, openBunGpu } from "./platform/bun.ts"
/**
 * The device as an Effect service: `yield* Gpu` is the `GpuHandle`. Provide it with `BunGpu` (on Bun), which opens
 * the device when the layer is built and destroys it when its scope closes, on failure and interruption too.
 */
export { Gpu } from "./runtime/gpu.ts"
export { closeGpu } from "./runtime/gpu.ts"
/** An open device: what `compile(…, { backend })`, `solve`, `train` and `fit` take as `backend`. */
export type { GpuHandle } from "./runtime/gpu.ts"
export type { AdapterSummary } from "./runtime/gpu.ts"
/** What a platform adds to a device (`Gpu.layerWith`'s second argument): words for a missing driver, help compiling pipelines. */
export type { GpuPlatform } from "./runtime/gpu.ts"
/** How a platform explains a missing adapter. */
export type { DriverReport } from "./runtime/gpu.ts"
export type { TextStore } from "./runtime/gpu.ts"
/** Other processes that compile pipelines into a shared driver cache (`GpuPlatform.pipelineWarmer`). */
export type { PipelineWarmer } from "./runtime/pipelines.ts"
/** One pipeline a `PipelineWarmer` is asked to compile: its WGSL, bindings and label. */
export type { PipelineRequest } from "./runtime/pipelines.ts"
/** How a kernel sees each of its bindings (`PipelineRequest.bindings`). */
export type { BindingKind } from "./compile/wgsl.ts"
export { NoAdapter, DeviceLost, ShaderCompile, Validation, OutOfMemory } from "./runtime/errors.ts"
/** Any of the device errors above. */
export type { GpuError } from "./runtime/errors.ts"
// Files
export { writeFileAtomic, writeFileAtomicSync, WriteFailed } from "./platform/files/atomic.ts"
export { pathPlot, type PathPanel } from "./io/path-plot.ts"
export { scatterPlot, imageGrid, stackPngs } from "./io/png-grid.ts"
export { readSafetensors, writeSafetensors, encodeSafetensors, decodeSafetensors } from "./platform/files/safetensors.ts"
/** Reading a file failed (`readSafetensors`, checkpoint loading): `path` names it, `code` the OS error. */
export { ReadFailed } from "./platform/files/safetensors.ts"
/** A malformed or mismatching safetensors file: `reason` says how, `tensor` names the entry. */
export { SafetensorsError } from "./platform/files/safetensors.ts"
/** One tensor: dtype, shape and row-major data of the dtype's array type. */
export type { TensorRecord } from "./platform/files/safetensors.ts"
/** A decoded safetensors file: its tensors and metadata. */
export type { Safetensors } from "./platform/files/safetensors.ts"
/** The typed array each dtype decodes to. */
export type { DtypeArray } from "./platform/files/safetensors.ts"
/** A safetensors dtype name ("F32", "F64", "I32", …); a tensor's own element type is `DType`. */
export type { Dtype as SafetensorsDtype } from "./platform/files/safetensors.ts"
/** What was wrong with a file, as `SafetensorsError.reason`. */
export type { SafetensorsReason } from "./platform/files/safetensors.ts"
/** Options of `decodeSafetensors` and `readSafetensors`. */
export type { DecodeOptions } from "./platform/files/safetensors.ts"
/** The tensors a file must hold, by name: shape and dtype. */
export type { ExpectedTensors } from "./platform/files/safetensors.ts"
