/** Every script in examples/ is a user's script: it imports only "sdeflow" and node builtins, never the repository's internals. */
import { expect, test } from "bun:test"
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { exampleScript, foreignImports } from "../support/examples.ts"

// The scripts of examples/ and of its one-folder-deep apps (examples/web/).
const examples = readdirSync(dirname(exampleScript("x")), { recursive: true, encoding: "utf8" }).filter((name) => name.endsWith(".ts"))

test.each(examples)("examples/%s imports only from sdeflow and node builtins", (name) => {
  expect(foreignImports(exampleScript(name))).toEqual([])
})

test("the check sees every form of import: static, type-only, re-export, side-effect, dynamic, require", () => {
  expect(examples.length).toBeGreaterThanOrEqual(5)
  const script = join(mkdtempSync(join(tmpdir(), "sdeflow-imports-")), "script.ts")
  writeFileSync(
    script,
    [
      'import { compile } from "sdeflow"',
      'import { join } from "node:path"',
      'import { train } from "../src/platform/train/loop.ts"',
      "import type { TrainSpec } from '../src/train/programs.ts'",
      'export { vp } from "../dsl/library/index.ts"',
      'import "effect"',
      'const { latestCheckpoint } = await import("../src/platform/train/checkpoint.ts")',
      'const fs = require("fs")',
    ].join("\n"),
  )
  expect(foreignImports(script)).toEqual(["../src/platform/train/loop.ts", "../src/train/programs.ts", "../dsl/library/index.ts", "effect", "../src/platform/train/checkpoint.ts", "fs"])
})
