/**
 * The browser entry (`sdeflow/web`) stays portable: no module it reaches imports `node:*`, `bun:*` or a
 * package that needs Node or Bun, and Bun bundles it for the browser. The Bun-only edge is src/platform/
 * (but its browser.ts) and the file, data, training-loop and CLI modules, which the entry never reaches.
 */
import { expect, test } from "bun:test"
import { readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"

const root = resolve(import.meta.dir, "../..")
/** Packages the browser entry may use: portable by their own documentation. */
const portablePackages = ["effect"]

/** Every module reachable from `entry` by static imports, with each bare or builtin specifier it imports. */
const reachable = (entry: string): Map<string, string[]> => {
  const transpiler = new Bun.Transpiler({ loader: "ts" })
  const seen = new Map<string, string[]>()
  const visit = (file: string) => {
    if (seen.has(file)) return
    const imports = transpiler.scanImports(readFileSync(file, "utf8")).map((i) => i.path)
    seen.set(file, imports.filter((p) => !p.startsWith(".")))
    for (const p of imports) if (p.startsWith(".")) visit(resolve(dirname(file), p))
  }
  visit(entry)
  return seen
}

test("no module reachable from web.ts imports node:*, bun:* or a Node-only package", () => {
  const modules = reachable(join(root, "web.ts"))
  expect(modules.size).toBeGreaterThan(50)
  const offending = [...modules].flatMap(([file, specifiers]) =>
    specifiers.filter((s) => !portablePackages.some((p) => s === p || s.startsWith(`${p}/`))).map((s) => `${file.slice(root.length + 1)} imports ${s}`),
  )
  expect(offending).toEqual([])
})

test("the browser entry bundles for the browser, as examples/web/serve.ts builds it", async () => {
  const result = await Bun.build({ entrypoints: [join(root, "examples/web/app.ts")], target: "browser" })
  expect(result.logs.map(String)).toEqual([])
  expect(result.success).toBe(true)
  expect(result.outputs[0]!.size).toBeGreaterThan(100_000)
})
