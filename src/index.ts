/**
 * sdeflow's public API. Import from "sdeflow" in any Bun script:
 *   import { compile, withGpu, input, normal, grad } from "sdeflow"
 */
// Tensors and graph building
export { Tensor, constant, full, zeros, ones, input, tensorData, where, concat, matmul, conv2d, random, normal, uniform, rademacher, stopGradient } from "./ir/tensor.ts"
export type { TensorLike } from "./ir/tensor.ts"
export type { DType } from "./ir/node.ts"
export { ShapeError, ProgramError } from "./ir/errors.ts"
// Autodiff
export { grad, vjp, valueAndGrad } from "./ir/autodiff.ts"
// Compilation and execution
export { compile, programOf, trace } from "./compile/compile.ts"
export type { CompileOptions, InputSpec } from "./compile/compile.ts"
export { explain, formatExplanation } from "./compile/explain.ts"
export type { Executable, DeviceValue, RunOptions } from "./runtime/executable.ts"
// Device
export { Gpu, openGpu, closeGpu } from "./runtime/gpu.ts"
export type { GpuHandle, AdapterSummary } from "./runtime/gpu.ts"
export { NoAdapter, DeviceLost, ShaderCompile, Validation, OutOfMemory } from "./runtime/errors.ts"
export { BunGpu, withGpu, bunGpu } from "./platform/bun.ts"
// Files
export { writeFileAtomic, writeFileAtomicSync, WriteFailed } from "./io/atomic.ts"
export { pathPlot, type PathPanel } from "./io/path-plot.ts"
export { scatterPlot, imageGrid, stackPngs } from "./io/png-grid.ts"
export { readSafetensors, writeSafetensors, encodeSafetensors, decodeSafetensors } from "./io/safetensors.ts"
