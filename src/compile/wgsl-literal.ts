/**
 * WGSL literals, and literals that may become per-kernel parameters. A renderer writes every size,
 * stride, offset and constant that does not shape the code as `param(value, type)`; `lift-constants.ts`
 * then decides, over all kernels of a program, which stay literals and which are read from a uniform.
 */
import type { ScalarType } from "./scalar.ts"

/** The types a parameter can have (all travel as 32-bit words). */
export type ParamType = "i32" | "u32" | "f32"

// Non-finite values cannot be WGSL constants (const-evaluation rejects them): read them from
// private variables, which are runtime values. See the prelude.
const f32Literal = (v: number): string => {
  if (Number.isNaN(v)) return "bitcast<f32>(sdf_nan_bits)"
  if (v === Infinity) return "bitcast<f32>(sdf_inf_bits)"
  if (v === -Infinity) return "-bitcast<f32>(sdf_inf_bits)"
  const text = String(Math.fround(v))
  return /[.e]/.test(text) ? `f32(${text})` : `${text}.0`
}

export const literal = (v: number, t: ScalarType): string =>
  t === "f32" ? f32Literal(v) : t === "bool" ? String(Boolean(v)) : t === "u32" ? `${v >>> 0}u` : v < 0 ? `(${v})` : `${v}`

/** Opens and closes a parameter marker; neither character is valid WGSL, so a leaked marker fails loudly. */
export const MARK_OPEN = "\u27e8"
export const MARK_CLOSE = "\u27e9"

/**
 * `value` as a literal that may instead be read from the kernel's parameter uniform: valid wherever a
 * runtime value of `type` is (never in a const-expression such as an array size or workgroup size).
 * Non-finite f32 and bool values stay plain literals.
 */
export const param = (value: number, type: ScalarType = "i32"): string => {
  if (type === "bool" || (type === "f32" && !Number.isFinite(value))) return literal(value, type)
  const v = type === "f32" ? Math.fround(value) : type === "u32" ? value >>> 0 : value | 0
  return `${MARK_OPEN}${type}:${v}${MARK_CLOSE}`
}

export const powerOfTwo = (v: number): boolean => v > 0 && (v & (v - 1)) === 0

/**
 * `operand / divisor` (or `%`) as text with the divisor a literal, for a non-negative `operand`: a power
 * of two is a shift or a mask (WGSL's signed `/` would add sign fix-ups).
 */
export const quotientLiteral = (fn: "idiv" | "mod", operand: string, divisor: number): string => {
  if (powerOfTwo(divisor)) return fn === "idiv" ? `(${operand} >> ${Math.log2(divisor)}u)` : `(${operand} & ${divisor - 1})`
  return `(${operand} ${fn === "idiv" ? "/" : "%"} ${divisor})`
}

/**
 * `operand / divisor` (or `%`), where `operand` names a non-negative i32 below SMALL_DIVIDEND. Kept a
 * literal, it is `quotientLiteral`: a shift, a mask, or WGSL's own division, which compilers turn into a
 * multiply and a shift. Lifted, a position whose divisors are all powers of two shifts or masks by a
 * parameter; any other calls `sdf_idiv`/`sdf_imod` with the divisor and its f32 reciprocal, because a
 * plain division by a runtime value runs per lane on CPU adapters.
 */
export const paramQuotient = (fn: "idiv" | "mod", operand: string, divisor: number): string => {
  if (!/^\w+$/.test(operand)) throw new Error(`a quotient's operand must be a name, not ${operand}`)
  return `${MARK_OPEN}${fn}:${operand}:${divisor}${MARK_CLOSE}`
}

/** The WGSL name of a kernel's parameter uniform (`array<vec4<i32>, N>`). */
export const PARAMS_UNIFORM = "sdf_p"

/** Where a kernel declares its parameter uniform, at binding `binding` (removed when it has none). */
export const paramsDeclaration = (binding: number): string => `${MARK_OPEN}params@${binding}${MARK_CLOSE}`

/**
 * Where a WGSL kernel stores a result at `index`, shifted by its write offset, the offset always a parameter
 * (also when it is 0): kernels writing the parts of one flat buffer (a gradient's) then share one form.
 */
export const paramOffsetIndex = (index: string, offset: number): string => `${index} + ${param(offset)}`
