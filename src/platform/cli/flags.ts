/**
 * Flag values as the CLI sees them: numbers arrive as text and are decoded together with everything else,
 * so one run of a command reports every bad flag at once (`--steps -1: …`, `--lr abc: …`), not just the
 * first one a parser tripped over.
 */
import { Data, Effect, Option, Schema, SchemaIssue } from "effect"
import { Flag } from "effect/cli"
import type { ConfigError } from "../../train/config.ts"

/** Command-line input that cannot be used; `flags` names each bad flag (exit code 2). */
export class BadFlags extends Data.TaggedError("BadFlags")<{ readonly message: string; readonly flags: readonly string[] }> {}

/** A flag whose value is checked later with the others (`metavar` shows in --help, e.g. N or X). */
export const laterChecked = (name: string, metavar: string, description: string): Flag.Flag<Option.Option<string>> =>
  Flag.String(name).pipe(Flag.withMetavar(metavar), Flag.withDescription(description), Flag.optional)

/** Text that reads as a number becomes one; anything else stays text, so the Schema error can quote it. */
export const numeric = (text: string | undefined): number | string | undefined => {
  if (text === undefined) return undefined
  const value = Number(text)
  return text.trim() !== "" && !Number.isNaN(value) ? value : text
}

/** The given flags only, as `name → text`, for error messages. */
export const givenFlags = (flags: Readonly<Record<string, Option.Option<unknown>>>): Record<string, string> =>
  Object.fromEntries(Object.entries(flags).flatMap(([name, value]) => (Option.isSome(value) ? [[name, String(value.value)]] : [])))

const blame = (key: string, problem: string, given: Readonly<Record<string, string>>): string =>
  key in given ? `--${key} ${given[key]}: ${problem}` : `${key}: ${problem}`

/**
 * decodeConfig's error, each "key: problem" line rewritten to name the flag and the text given for it
 * (keys that came from a config file or a stored run keep their plain name).
 */
export const blameFlags = (error: ConfigError, given: Readonly<Record<string, string>>): BadFlags => {
  const keys: string[] = []
  const lines = error.issues.map((issue) => {
    const match = /^([A-Za-z]\w*): (.*)$/.exec(issue)
    if (!match) return issue
    keys.push(match[1]!)
    return blame(match[1]!, match[2]!, given)
  })
  return new BadFlags({ message: `invalid flags:\n  ${lines.join("\n  ")}`, flags: [...new Set(keys)] })
}

/** Decodes flag values with `schema`, reporting every bad one as `--name text: problem`. */
export const decodeFlags = <S extends Schema.Top & { readonly DecodingServices: never }>(
  schema: S,
  values: Readonly<Record<string, unknown>>,
  given: Readonly<Record<string, string>>,
): Effect.Effect<S["Type"], BadFlags> =>
  Schema.decodeUnknownEffect(schema)(values, { errors: "all" }).pipe(
    Effect.mapError((error) => {
      const issues = SchemaIssue.makeFormatterStandardSchemaV1()(error.issue).issues
      const keys = issues.map((i) => String((i.path?.[0] as { key?: unknown } | undefined)?.key ?? i.path?.[0] ?? "(flags)"))
      // Lower-case "Expected …", as decodeConfig's lines read, so every flag error looks alike.
      const lines = issues.map((issue, k) => blame(keys[k]!, issue.message.replace(/^Expected/, "expected"), given))
      return new BadFlags({ message: `invalid flags:\n  ${lines.join("\n  ")}`, flags: [...new Set(keys)] })
    }),
  )
