/**
 * `compile` for Effect users: the executable belongs to the surrounding `Scope` and is destroyed (its
 * device buffers returned to the pool) when that scope closes — the Effect form of
 * `using exe = await compile(…)`.
 *
 *   Effect.scoped(Effect.gen(function* () {
 *     const exe = yield* compileScoped(({ x }) => x.mul(2), { x: [4] }, { backend: gpu })
 *     exe.run({ x: [1, 2, 3, 4] })
 *     return yield* Effect.promise(() => exe.read("out"))
 *   }))
 *
 * What `compile` rejects with for a reason it names — a shape mismatch, a bad program or option, WGSL the
 * driver refuses, a validation or out-of-memory error, a lost device — is the Effect's typed error; any
 * other rejection is a defect.
 */
import { Effect, type Scope } from "effect"
import { compile, type CompileOptions, type InputSpec, type Outputs } from "../compile/compile.ts"
import type { Tensor } from "../ir/tensor.ts"
import { InvalidOption, ProgramError, ShapeError } from "../ir/errors.ts"
import { DeviceLost, OutOfMemory, ShaderCompile, Validation } from "../runtime/errors.ts"
import type { Executable } from "../runtime/executable.ts"

/** Why `compileScoped` failed: the program (shapes, values, options) or the device refused it. */
export type CompileError = ShapeError | ProgramError | InvalidOption | ShaderCompile | Validation | OutOfMemory | DeviceLost

const compileErrors = [ShapeError, ProgramError, InvalidOption, ShaderCompile, Validation, OutOfMemory, DeviceLost] as const

const isCompileError = (e: unknown): e is CompileError => compileErrors.some((type) => e instanceof type)

/** `compile(fn, specs, options)` owned by the current scope: destroyed when it closes; see the module comment. */
export const compileScoped = <I extends Record<string, InputSpec>>(
  fn: (inputs: { [K in keyof I]: Tensor }) => Outputs,
  specs: I,
  options: CompileOptions,
): Effect.Effect<Executable, CompileError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({ try: () => compile(fn, specs, options), catch: (e) => e }).pipe(
      Effect.catch((e) => (isCompileError(e) ? Effect.fail(e) : Effect.die(e))),
    ),
    (exe) => Effect.sync(() => exe.destroy()),
  )
