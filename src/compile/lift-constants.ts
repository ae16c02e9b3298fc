/**
 * Kernels of one form share one pipeline. Pipeline creation is what a first run waits for (on lavapipe
 * LLVM compiles each kernel, seconds for a tiled one), and a network's layers differ mostly in sizes.
 * Renderers mark every size, stride, offset and constant that does not shape the code (`param` in
 * wgsl-literal.ts), and divisions of small index values by such sizes (`paramQuotient`). Kernels whose
 * text is the same once the marked values are blanked out have one form; within a form, a marked value
 * that is the same in every kernel stays a literal (so LLVM still folds a 3×3 window or a shared
 * epsilon), and a value that differs is read from the kernel's parameter uniform. A form with a single kernel keeps every literal: its text is what it was.
 * A device remembers the variants of each form it compiled (`FormRegistry`), so a later program whose
 * kernels fit one (the sampler after the training step) reuses its pipeline instead of compiling anew.
 */
import { MARK_CLOSE, MARK_OPEN, PARAMS_UNIFORM, literal, powerOfTwo, quotientLiteral, type ParamType } from "./wgsl-literal.ts"

export interface LiftedKernel {
  /** The WGSL to compile; equal texts share a pipeline. */
  readonly wgsl: string
  /** The parameter uniform's words (i32/u32 values, f32 bits), or undefined when the kernel reads none. */
  readonly params?: Uint32Array
}

const markers = new RegExp(`${MARK_OPEN}(i32|u32|f32|(?:idiv|mod):\\w+):([^${MARK_CLOSE}]*)${MARK_CLOSE}`, "g")
const declaration = new RegExp(`${MARK_OPEN}params@(\\d+)${MARK_CLOSE}`)

/** What a marker stands for: a value of a type, or the quotient (or remainder) of a named operand by the value. */
type Marked = ParamType | `${"idiv" | "mod"}:${string}`

interface Parsed {
  readonly pieces: readonly string[]
  readonly kinds: readonly Marked[]
  readonly values: readonly number[]
}

const parse = (text: string): Parsed => {
  const pieces: string[] = []
  const kinds: Marked[] = []
  const values: number[] = []
  let last = 0
  for (const m of text.matchAll(markers)) {
    pieces.push(text.slice(last, m.index))
    kinds.push(m[1] as Marked)
    values.push(Number(m[2]))
    last = m.index! + m[0].length
  }
  pieces.push(text.slice(last))
  return { pieces, kinds, values }
}

/** How parameter `i` is read, as a value of `type` (the uniform holds i32 words). */
const paramRead = (i: number, type: ParamType): string => {
  const word = `${PARAMS_UNIFORM}[${i >> 2}][${i & 3}]`
  return type === "i32" ? word : `bitcast<${type}>(${word})`
}

const wordOf = (value: number, type: ParamType): number =>
  type === "f32" ? new Uint32Array(new Float32Array([value]).buffer)[0]! : value >>> 0

const quotient = (kind: Marked): { fn: "idiv" | "mod"; operand: string } | undefined => {
  const [fn, operand] = kind.split(":")
  return operand === undefined ? undefined : { fn: fn as "idiv" | "mod", operand }
}

/**
 * How a lifted position is read: a plain parameter, a quotient by a shift or mask (every value the
 * variant serves is a power of two), or a quotient through `sdf_idiv` (divisor and f32 reciprocal).
 */
type Reading = "value" | "shift" | "divide"

/** A marker's text when its value stays a literal. */
const literalText = (kind: Marked, value: number): string => {
  const q = quotient(kind)
  return q ? quotientLiteral(q.fn, q.operand, value) : literal(value, kind as ParamType)
}

/** A marker's text reading its parameter words from `slot` on. */
const paramText = (kind: Marked, reading: Reading, slot: number): string => {
  const q = quotient(kind)
  if (!q) return paramRead(slot, kind as ParamType)
  const word = paramRead(slot, "i32")
  if (reading === "shift") return q.fn === "idiv" ? `(${q.operand} >> u32(${word}))` : `(${q.operand} & ${word})`
  return `sdf_${q.fn === "idiv" ? "idiv" : "imod"}(${q.operand}, ${word}, ${paramRead(slot + 1, "f32")})`
}

/** The parameter words of a lifted value: the value, a shift or mask, or a divisor and its f32 reciprocal. */
const paramWords = (kind: Marked, reading: Reading, value: number): number[] => {
  if (reading === "value") return [wordOf(value, kind as ParamType)]
  if (reading === "divide") return [value >>> 0, wordOf(1 / value, "f32")]
  return [quotient(kind)!.fn === "idiv" ? Math.log2(value) : value - 1]
}

/**
 * A compiled variant of a form: per marked position, the value it keeps as a literal (undefined where
 * it reads a parameter), and how each lifted position is read.
 */
interface Variant {
  readonly literals: readonly (number | undefined)[]
  readonly readings: readonly (Reading | undefined)[]
}

/**
 * The variants of each form compiled so far (one registry per device). A group of kernels takes the
 * first variant whose literals all its kernels share (and whose shifts all their divisors allow);
 * otherwise a new variant keeps as literals only the values its kernels agree on and every earlier
 * variant kept too, so variants only ever generalise.
 */
export class FormRegistry {
  private readonly variants = new Map<string, Variant[]>()

  choose(skeleton: string, kinds: readonly Marked[], members: readonly (readonly number[])[]): Variant {
    const known = this.variants.get(skeleton) ?? []
    const fits = (v: Variant) =>
      members.every((values) => v.literals.every((literal, j) => (literal === undefined ? v.readings[j] !== "shift" || powerOfTwo(values[j]!) : values[j] === literal)))
    const found = known.find(fits)
    if (found) return found
    const first = members[0]!
    const literals = first.map((value, j) => (members.every((m) => m[j] === value) && known.every((v) => v.literals[j] === value) ? value : undefined))
    const readings = literals.map((literal, j): Reading | undefined =>
      literal !== undefined ? undefined : !quotient(kinds[j]!) ? "value" : members.every((m) => powerOfTwo(m[j]!)) ? "shift" : "divide",
    )
    const variant = { literals, readings }
    this.variants.set(skeleton, [...known, variant])
    return variant
  }
}

/**
 * The final kernels of a program, in order, from their marked texts. With a registry, forms it has
 * seen keep the variants compiled before where they fit.
 */
export const liftConstants = (texts: readonly string[], registry: FormRegistry = new FormRegistry()): LiftedKernel[] => {
  const parsed = texts.map(parse)
  const forms = new Map<string, number[]>()
  parsed.forEach((p, k) => {
    const skeleton = p.pieces.map((piece, j) => (j === 0 ? piece : MARK_OPEN + p.kinds[j - 1]! + piece)).join("")
    forms.set(skeleton, [...(forms.get(skeleton) ?? []), k])
  })
  const result: LiftedKernel[] = new Array(texts.length)
  for (const [skeleton, members] of forms) {
    const { kinds } = parsed[members[0]!]!
    const { literals, readings } = registry.choose(skeleton, kinds, members.map((k) => parsed[k]!.values))
    const slotOf = new Map<number, number>()
    let slots = 0
    literals.forEach((literal, j) => {
      if (literal !== undefined) return
      slotOf.set(j, slots)
      slots += readings[j] === "divide" ? 2 : 1
    })
    for (const k of members) {
      const p = parsed[k]!
      let text = p.pieces[0]!
      p.values.forEach((v, j) => {
        const slot = slotOf.get(j)
        text += (slot === undefined ? literalText(kinds[j]!, v) : paramText(kinds[j]!, readings[j]!, slot)) + p.pieces[j + 1]!
      })
      if (slots === 0) {
        result[k] = { wgsl: text.replace(declaration, "") }
        continue
      }
      const words = new Uint32Array(Math.ceil(slots / 4) * 4)
      for (const [j, slot] of slotOf) words.set(paramWords(kinds[j]!, readings[j]!, p.values[j]!), slot)
      result[k] = {
        wgsl: text.replace(declaration, (_, b) => `@group(0) @binding(${b}) var<uniform> ${PARAMS_UNIFORM}: array<vec4<i32>, ${words.length / 4}>;`),
        params: words,
      }
    }
  }
  return result
}
