/**
 * Error scopes around device calls. Dawn silently skips an invalid command buffer, so every
 * operation whose validity we cannot prove statically is wrapped and its error surfaced as a value.
 */
import { OutOfMemory, Validation } from "./errors.ts"

/** Runs `body` under validation + out-of-memory scopes; rejects with a typed error if either fired. */
export const scoped = async <A>(device: GPUDevice, operation: string, body: () => A): Promise<A> => {
  device.pushErrorScope("out-of-memory")
  device.pushErrorScope("validation")
  let result: { ok: true; value: A } | { ok: false; error: unknown }
  try {
    result = { ok: true, value: body() }
  } catch (error) {
    result = { ok: false, error }
  }
  // Both scopes are popped on every path, or later scopes would nest inside these.
  const validation = await device.popErrorScope()
  const memory = await device.popErrorScope()
  if (validation) throw new Validation({ operation, message: `${operation}: ${validation.message}` })
  if (memory) throw new OutOfMemory({ operation, message: `${operation}: ${memory.message}` })
  if (!result.ok) throw result.error
  return result.value
}
