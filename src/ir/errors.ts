/** Typed errors raised while building a program, naming the op, the shapes and the user's call site. */
import { Data } from "effect"

/** Incompatible shapes: `shapes` lists every operand's shape, `site` the user's line that built the op. */
export class ShapeError extends Data.TaggedError("ShapeError")<{
  readonly message: string
  readonly op: string
  readonly shapes: readonly (readonly number[])[]
  readonly site: string
}> {}

/** A value the program cannot represent (non-finite constant, bad axis, wrong dtype, unknown input). */
export class ProgramError extends Data.TaggedError("ProgramError")<{
  readonly message: string
  readonly op: string
  readonly site: string
}> {}

/** This package's root as stack frames spell it: a path under Bun, a URL in a browser. */
const packageRoot = ((root: URL) => (root.protocol === "file:" ? decodeURIComponent(root.pathname) : root.href))(new URL("../../", import.meta.url))
/** Frames inside the library itself (src/ and dsl/), never the user's tests, examples or scripts. */
const internal = [`${packageRoot}src/`, `${packageRoot}dsl/`]

/** The first stack frame outside sdeflow's own `src/` and `dsl/`: where the user wrote the offending expression. */
export const callSite = (): string => {
  // JSC prints "at fn (file:line:col)" or, for anonymous/top-level code, "at file:line:col".
  const frames = (new Error().stack ?? "").split("\n").map((f) => f.trim()).filter((f) => f.startsWith("at "))
  const user = frames.find((f) => /:\d+:\d+\)?$/.test(f) && !internal.some((prefix) => f.includes(prefix)))
  return (user ?? "").replace(/^at /, "")
}

const show = (s: readonly number[]) => `[${s.join(", ")}]`

export const shapeError = (op: string, shapes: readonly (readonly number[])[], why: string): ShapeError => {
  const site = callSite()
  return new ShapeError({
    op,
    shapes,
    site,
    message: `${op}: ${why} (shapes ${shapes.map(show).join(" and ")})${site ? ` at ${site}` : ""}`,
  })
}

export const programError = (op: string, why: string): ProgramError => {
  const site = callSite()
  return new ProgramError({ op, site, message: `${op}: ${why}${site ? ` at ${site}` : ""}` })
}

/** An option outside its domain (λ ∉ [0, 1], ε ≥ T, steps < 1, an unknown key, …): `option` names it. */
export class InvalidOption extends Data.TaggedError("InvalidOption")<{
  readonly message: string
  readonly option: string
  readonly value: unknown
}> {}

/** A value as a user would write it: NaN and ±Infinity stay themselves (JSON would print null). */
export const showValue = (value: unknown): string => {
  if (typeof value === "number" || typeof value === "bigint" || value === undefined) return String(value)
  if (typeof value === "function") return "a function"
  try {
    return JSON.stringify(value, (_, v) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v)) ?? String(value)
  } catch {
    return String(value)
  }
}

export const invalid = (option: string, value: unknown, why: string): InvalidOption =>
  new InvalidOption({ option, value, message: `${option} = ${showValue(value)}: ${why}` })

/** Edit distance, for "did you mean" on a misspelt option. */
const distance = (a: string, b: string): number => {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const next = [i]
    for (let j = 1; j <= b.length; j++) next.push(Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)))
    row = next
  }
  return row[b.length]!
}

/**
 * Rejects keys of `options` that `known` does not list (plain-JS callers get no type check): an
 * InvalidOption naming the key, its value and the nearest known key. `known` is a record of every key of
 * the options type, so the compiler keeps the list complete.
 */
export const checkKeys = <T extends object>(where: string, options: T | undefined, known: Readonly<Record<keyof T, true>>): void => {
  if (options === undefined || options === null) return
  if (typeof options !== "object") throw invalid(where, options, "options must be an object")
  for (const key of Object.keys(options)) {
    if (key in known) continue
    const names = Object.keys(known)
    const nearest = names.reduce((best, n) => (distance(key, n) < distance(key, best) ? n : best), names[0] ?? "")
    const hint = nearest && distance(key, nearest) <= 2 ? `did you mean "${nearest}"? ` : ""
    throw invalid(`${where}.${key}`, (options as Record<string, unknown>)[key], `unknown option (${hint}known: ${names.join(", ")})`)
  }
}
