/** Test support for examples/: they are run as a user's scripts, importing only "sdeflow". */
import { readFileSync } from "node:fs"
import { join } from "node:path"

/** The path of examples/<name>. */
export const exampleScript = (name: string): string => join(import.meta.dir, "../../examples", name)

/** What a user's script may import: the package (or its browser entry), node builtins, and its own sibling files. */
const allowed = (specifier: string): boolean =>
  specifier === "sdeflow" || specifier === "sdeflow/web" || specifier.startsWith("node:") || /^\.\/[\w-]+\.ts$/.test(specifier)

/**
 * Module specifiers an example imports other than "sdeflow" (or "sdeflow/web"), node builtins and files
 * beside it (expected: none): static imports and re-exports (`from "…"`), side-effect imports
 * (`import "…"`), dynamic `import(…)` and `require(…)`.
 */
export const foreignImports = (script: string): string[] =>
  [...readFileSync(script, "utf8").matchAll(/(?:\bfrom|\bimport|\bimport\s*\(|\brequire\s*\()\s*(["'`])([^"'`]+)\1/g)]
    .map((m) => m[2]!)
    .filter((s) => !allowed(s))
