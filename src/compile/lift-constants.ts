/**
 * Kernels of one form share one pipeline. Pipeline creation is what a first run waits for (on lavapipe
 * LLVM compiles each kernel, seconds for a tiled one), and a network's layers differ mostly in sizes.
 * Renderers mark every size, stride, offset and constant that does not shape the code (`param` in
 * wgsl-literal.ts), and divisions of small index values by such sizes (`paramQuotient`). Kernels whose text is the same once the marked values are blanked out have one
 * form; within a form, a marked value that is the same in every kernel stays a literal (so LLVM still
 * folds a 3×3 window or a shared epsilon), and a value that differs is read from the kernel's
 * parameter uniform. A form with a single kernel keeps every literal: its text is what it was.
 * A device remembers the variants of each form it compiled (`FormRegistry`), so a later program whose
 * kernels fit one (the sampler after the training step) reuses its pipeline instead of compiling anew.
 */
import { MARK_CLOSE, MARK_OPEN, PARAMS_UNIFORM, literal, quotientLiteral, type ParamType, type QuotientKind } from "./wgsl-literal.ts"

export interface LiftedKernel {
  /** The WGSL to compile; equal texts share a pipeline. */
  readonly wgsl: string
  /** The parameter uniform's words (i32/u32 values, f32 bits), or undefined when the kernel reads none. */
  readonly params?: Uint32Array
}

const markers = new RegExp(`${MARK_OPEN}(i32|u32|f32|(?:idiv|mod|shr|mask):\\w+):([^${MARK_CLOSE}]*)${MARK_CLOSE}`, "g")
const declaration = new RegExp(`${MARK_OPEN}params@(\\d+)${MARK_CLOSE}`)

/**
 * What a marker stands for: a value of a type, or a quotient of a named operand by the value (`shr` and
 * `mask` when the value is a power of two).
 */
type Marked = ParamType | `${QuotientKind}:${string}`

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

const quotient = (kind: Marked): { fn: QuotientKind; operand: string } | undefined => {
  const [fn, operand] = kind.split(":")
  return operand === undefined ? undefined : { fn: fn as QuotientKind, operand }
}

/** A marker's text when its value stays a literal. */
const literalText = (kind: Marked, value: number): string => {
  const q = quotient(kind)
  return q ? quotientLiteral(q.fn, q.operand, value) : literal(value, kind as ParamType)
}

/** A marker's text reading its parameter words from `slot` on. */
const paramText = (kind: Marked, slot: number): string => {
  const q = quotient(kind)
  if (!q) return paramRead(slot, kind as ParamType)
  const { fn, operand } = q
  const word = paramRead(slot, "i32")
  if (fn === "shr") return `(${operand} >> u32(${word}))`
  if (fn === "mask") return `(${operand} & ${word})`
  return `sdf_${fn === "idiv" ? "idiv" : "imod"}(${operand}, ${word}, ${paramRead(slot + 1, "f32")})`
}

/** How many parameter words a marker takes. */
const wordCount = (kind: Marked): number => {
  const fn = quotient(kind)?.fn
  return fn === "idiv" || fn === "mod" ? 2 : 1
}

/** The parameter words of a marker's value: a shift, a mask, or a divisor and its f32 reciprocal. */
const paramWords = (kind: Marked, value: number): number[] => {
  const fn = quotient(kind)?.fn
  if (fn === "shr") return [Math.log2(value)]
  if (fn === "mask") return [value - 1]
  return fn ? [value >>> 0, wordOf(1 / value, "f32")] : [wordOf(value, kind as ParamType)]
}

/** Per marked position of a form: the value it keeps as a literal, or undefined where it reads a parameter. */
type Variant = readonly (number | undefined)[]

/**
 * The variants of each form compiled so far (one registry per device). A group of kernels takes the
 * first variant whose literals all its kernels share; otherwise a new variant keeps as literals only the
 * values its kernels agree on and every earlier variant kept too, so variants only ever generalise.
 */
export class FormRegistry {
  private readonly variants = new Map<string, Variant[]>()

  choose(skeleton: string, members: readonly (readonly number[])[]): Variant {
    const known = this.variants.get(skeleton) ?? []
    const fits = (v: Variant) => members.every((values) => v.every((literal, j) => literal === undefined || values[j] === literal))
    const found = known.find(fits)
    if (found) return found
    const first = members[0]!
    const variant = first.map((value, j) => (members.every((m) => m[j] === value) && known.every((v) => v[j] === value) ? value : undefined))
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
    const variant = registry.choose(skeleton, members.map((k) => parsed[k]!.values))
    const { kinds } = parsed[members[0]!]!
    const slotOf = new Map<number, number>()
    let slots = 0
    variant.forEach((literal, j) => {
      if (literal !== undefined) return
      slotOf.set(j, slots)
      slots += wordCount(kinds[j]!)
    })
    for (const k of members) {
      const p = parsed[k]!
      let text = p.pieces[0]!
      p.values.forEach((v, j) => {
        const slot = slotOf.get(j)
        text += (slot === undefined ? literalText(kinds[j]!, v) : paramText(kinds[j]!, slot)) + p.pieces[j + 1]!
      })
      if (slots === 0) {
        result[k] = { wgsl: text.replace(declaration, "") }
        continue
      }
      const words = new Uint32Array(Math.ceil(slots / 4) * 4)
      for (const [j, slot] of slotOf) words.set(paramWords(kinds[j]!, p.values[j]!), slot)
      result[k] = {
        wgsl: text.replace(declaration, (_, b) => `@group(0) @binding(${b}) var<uniform> ${PARAMS_UNIFORM}: array<vec4<i32>, ${words.length / 4}>;`),
        params: words,
      }
    }
  }
  return result
}
