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

/** The first stack frame outside sdeflow's own `src/`: where the user wrote the offending expression. */
export const callSite = (): string => {
  // JSC prints "at fn (file:line:col)" or, for anonymous/top-level code, "at file:line:col".
  const frames = (new Error().stack ?? "").split("\n").map((f) => f.trim()).filter((f) => f.startsWith("at "))
  const user = frames.find((f) => /:\d+:\d+\)?$/.test(f) && !/[/\\]src[/\\](ir|compile|nn|runtime)[/\\]/.test(f))
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
