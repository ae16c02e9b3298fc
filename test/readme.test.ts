/**
 * The README's TypeScript blocks run verbatim as a user's own project runs them (sdeflow installed as a
 * dependency, imported by name), on this machine's WebGPU adapter, and each prints something.
 */
import { expect, test, setDefaultTimeout } from "bun:test"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { runAsConsumer } from "./support/consumer.ts"

setDefaultTimeout(300_000)

const readme = readFileSync(join(import.meta.dir, "../README.md"), "utf8")
/** Every ```ts block, indented ones (inside a list item) included, with the indentation removed. */
const blocks = [...readme.matchAll(/^( *)```ts\n([\s\S]*?)^\1```$/gm)].map((m) => m[2]!.replace(new RegExp(`^${m[1]}`, "gm"), ""))

test("the README has its tour blocks", () => {
  expect(blocks.length).toBeGreaterThanOrEqual(3)
  for (const b of blocks) expect(b).toContain('from "sdeflow"')
})

test.each(blocks.map((b, i) => [i + 1, b] as const))("README block %d runs in a user's project and prints its result", async (_, source) => {
  const { stdout, stderr, code } = await runAsConsumer(source)
  expect({ code, stderr }).toEqual({ code: 0, stderr: "" })
  expect(stdout.trim().length).toBeGreaterThan(0)
})
