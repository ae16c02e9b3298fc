/**
 * sdeflow's public API. Import from "sdeflow" in any Bun script:
 *   import { compile, withGpu, input, normal, grad } from "sdeflow"
 */
// Tensors and graph building
export { Tensor, constant, full, zeros, ones, input, tensorData, where, concat, matmul, conv2d, random, normal, uniform, rademacher, stopGradient } from "./ir/tensor.ts"
export type { TensorLike } from "./ir/tensor.ts"
export type {
  /** Options of `random`, `normal`, `uniform` and `rademacher` (which salt stream keys the draw). */
  RandomOptions,
  /** The named salt streams a random draw can be keyed by. */
  SaltStream,
} from "./ir/tensor.ts"
/** A tensor's shape: one extent per axis. */
export type { Shape } from "./ir/shape.ts"
export type { DType } from "./ir/node.ts"
export { ShapeError, ProgramError } from "./ir/errors.ts"
// Autodiff
export { grad, vjp, valueAndGrad } from "./ir/autodiff.ts"
// Compilation and execution
export { compile, programOf, trace } from "./compile/compile.ts"
export type { CompileOptions, InputSpec } from "./compile/compile.ts"
/** What a compiled function returns: one tensor (output "out") or tensors by output name. */
export type { Outputs } from "./compile/compile.ts"
/** Float precision of the CPU backend ("f32" or "f64"). */
export type { Precision } from "./compile/js.ts"
export type {
  /** The compiled program an executable replays (`exe.program`): its inputs, outputs and kernels. */
  Program,
  /** One input of a program: name, shape, dtype. */
  ProgramInput,
  /** One output of a program: name, shape, dtype. */
  ProgramOutput,
} from "./compile/program.ts"
export type {
  /** What `explain` reports about a compiled function: its kernels, dispatches and pipelines. */
  Explanation,
  /** One kernel in an `Explanation`. */
  KernelReport,
} from "./compile/explain.ts"
/** Pipeline compilation progress, as `CompileOptions.onCompile` and `solve`'s `onCompile` receive it. */
export type { CompileProgress } from "./runtime/pipelines.ts"
export { explain, formatExplanation } from "./compile/explain.ts"
export type { Executable, DeviceValue, RunOptions } from "./runtime/executable.ts"
export type {
  /** What `exe.run` accepts per input: a host array, a number (scalars) or a `DeviceValue`. */
  InputValue,
  /** A host array an executable accepts or returns. */
  HostArray,
  /** The runs of `exe.runChain`: steps, per-step scalars and run options, outputs fed back as inputs. */
  Chain,
  /** One kernel's time from `exe.profile`. */
  KernelTime,
} from "./runtime/executable.ts"
// Device
export { Gpu, openGpu, closeGpu } from "./runtime/gpu.ts"
export type { GpuHandle, AdapterSummary } from "./runtime/gpu.ts"
export type {
  /** What a platform adds to `openGpu`: words for a missing driver, help compiling pipelines. */
  GpuPlatform,
  /** How a platform explains a missing adapter. */
  DriverReport,
} from "./runtime/gpu.ts"
/** Other processes that compile pipelines into a shared driver cache (`GpuPlatform.pipelineWarmer`). */
export type { PipelineWarmer } from "./runtime/pipelines.ts"
export { NoAdapter, DeviceLost, ShaderCompile, Validation, OutOfMemory } from "./runtime/errors.ts"
/** Any of the device errors above. */
export type { GpuError } from "./runtime/errors.ts"
export { BunGpu, withGpu, bunGpu } from "./platform/bun.ts"
// Files
export { writeFileAtomic, writeFileAtomicSync, WriteFailed } from "./io/atomic.ts"
export { pathPlot, type PathPanel } from "./io/path-plot.ts"
export { scatterPlot, imageGrid, stackPngs } from "./io/png-grid.ts"
export { readSafetensors, writeSafetensors, encodeSafetensors, decodeSafetensors } from "./io/safetensors.ts"
export {
  /** Reading a file failed (`readSafetensors`, checkpoint loading): `path` names it, `code` the OS error. */
  ReadFailed,
  /** A malformed or mismatching safetensors file: `reason` says how, `tensor` names the entry. */
  SafetensorsError,
} from "./io/safetensors.ts"
export type {
  /** One tensor: dtype, shape and row-major data of the dtype's array type. */
  TensorRecord,
  /** A decoded safetensors file: its tensors and metadata. */
  Safetensors,
  /** The typed array each dtype decodes to. */
  DtypeArray,
  /** A safetensors dtype name ("F32", "F64", "I32", …). */
  Dtype,
  /** What was wrong with a file, as `SafetensorsError.reason`. */
  SafetensorsReason,
  /** Options of `decodeSafetensors` and `readSafetensors`. */
  DecodeOptions,
  /** The tensors a file must hold, by name: shape and dtype. */
  ExpectedTensors,
} from "./io/safetensors.ts"
