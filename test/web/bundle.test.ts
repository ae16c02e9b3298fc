/**
 * The core stays portable. Every file of `src/` outside `src/platform/`, and every file of `dsl/`, imports no
 * `node:*`, `bun:*`, bare Node builtin (`fs`, `path`, …) or Node-only package, and uses neither the `Bun` nor the
 * `process` global: the Node/Bun edge is `src/platform/` alone (bun-webgpu; files/, cifar/, train/ and cli/ for
 * files, CIFAR-10 downloads, the training loop and the command line). The browser entry (`sdeflow/web`) reaches
 * none of the edge but `src/platform/browser.ts`, and Bun bundles it for the browser.
 */
import { expect, test } from "bun:test"
import { readFileSync } from "node:fs"
import { isBuiltin } from "node:module"
import { dirname, join, resolve } from "node:path"

const root = resolve(import.meta.dir, "../..")
/** Packages the browser entry may use: portable by their own documentation. */
const portablePackages = ["effect"]
/** Packages that need Node or Bun (native code, Node's APIs), besides the builtins `isBuiltin` knows. */
const nodeOnlyPackages = ["bun", "bun-webgpu", "@effect/platform-node", "@effect/platform-node-shared", "@effect/platform-bun"]

/** `node:*`, `bun:*`, a bare builtin (`fs`, `fs/promises`, `zlib`, …) or a Node-only package (or one of its subpaths). */
const isNodeOnly = (specifier: string): boolean =>
  specifier.startsWith("node:") || specifier.startsWith("bun:") || isBuiltin(specifier) || nodeOnlyPackages.some((p) => specifier === p || specifier.startsWith(`${p}/`))

const marker = "__sdeflowNodeGlobal_"
/**
 * Rewrites every reference to the global `Bun` or `process` to a marked name. The transpiler's `define` replaces
 * only unbound names, so a local called `process` (dsl/solve.ts calls its SDE that), a property `.process`, a
 * comment (`Bun.version` in src/runtime/doctor.ts's) or a string is left alone; the names Bun itself defines
 * (`process.browser`, `process.env.NODE_ENV`, `process.env.BUN_ENV`) are redefined so they stay visible.
 */
const globalsTranspiler = new Bun.Transpiler({
  loader: "ts",
  define: Object.fromEntries(
    ["Bun", "process", "process.browser", "process.env.NODE_ENV", "process.env.BUN_ENV", "globalThis.Bun", "globalThis.process"].map((name) => [name, marker + name.replace(/^globalThis\./, "")]),
  ),
})
const importsTranspiler = new Bun.Transpiler({ loader: "ts" })

/** What ties `source` to Node or Bun, one line each: `imports X`, `uses global Bun`, `uses global process`. */
const edgeUses = (source: string): string[] => {
  const code = source.replace(/^#!.*/, "")
  const imports = importsTranspiler.scanImports(code).map((i) => i.path).filter(isNodeOnly)
  const globals = new Set([...globalsTranspiler.transformSync(code).matchAll(new RegExp(`${marker}(Bun|process)\\b`, "g"))].map((m) => m[1]!))
  return [...new Set(imports)].map((s) => `imports ${s}`).concat([...globals].map((g) => `uses global ${g}`))
}

/** The portable files: every .ts file of src/ outside src/platform/, and of dsl/, relative to the root. */
const portableFiles = (): string[] =>
  ["src", "dsl"].flatMap((dir) => [...new Bun.Glob("**/*.ts").scanSync({ cwd: join(root, dir) })].map((f) => `${dir}/${f}`)).filter((f) => !f.startsWith("src/platform/"))

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

test("nothing in src/ outside src/platform/, nor in dsl/, imports node:*, bun:* or a Node-only package, or uses Bun or process", () => {
  const files = portableFiles()
  expect(files.length).toBeGreaterThan(100)
  const offending = files.flatMap((file) => edgeUses(readFileSync(join(root, file), "utf8")).map((use) => `${file} ${use}`))
  expect(offending).toEqual([])
})

test("the portability check sees imports of every form and global uses, not comments, strings or local names", () => {
  const source = [
    "#!/usr/bin/env bun",
    "/** Bun.version and process.env are read by the caller. */",
    'import { readFileSync } from "node:fs"',
    'import "zlib"',
    'export { dlopen } from "bun:ffi"',
    'const { setupGlobals } = await import("bun-webgpu")',
    'const cp = require("child_process")',
    'import { NodeRuntime } from "@effect/platform-node"',
    'import { Effect } from "effect"',
    'const note = "process.exit() is not called here"',
    "export const solve = (process: { span: number }) => process.span + ({ process: 1 }).process",
    "export const version = () => Bun.version",
    "export const debug = () => globalThis.process.env.NODE_ENV",
  ].join("\n")
  expect(edgeUses(source)).toEqual([
    "imports node:fs",
    "imports zlib",
    "imports bun:ffi",
    "imports bun-webgpu",
    "imports child_process",
    "imports @effect/platform-node",
    "uses global Bun",
    "uses global process",
  ])
  expect(edgeUses('export const f = (process: number) => process + 1 // Bun.version\nconst s = "Bun.spawn"')).toEqual([])
})

test("the browser entry bundles for the browser, as examples/web/serve.ts builds it", async () => {
  const result = await Bun.build({ entrypoints: [join(root, "examples/web/app.ts")], target: "browser" })
  expect(result.logs.map(String)).toEqual([])
  expect(result.success).toBe(true)
  expect(result.outputs[0]!.size).toBeGreaterThan(100_000)
})
