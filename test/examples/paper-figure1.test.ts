/**
 * examples/paper-figure1.ts runs as a user's script (a short run: 60 iterations per model; its imports are
 * checked in imports.test.ts): trains the three generative SDEs with the general ELBO, reports finite test
 * ELBOs, and writes its figure. The README's figures come from the full default run.
 */
import { expect, test, setDefaultTimeout } from "bun:test"
import { existsSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { exampleScript } from "../support/examples.ts"

setDefaultTimeout(600_000)
const script = exampleScript("paper-figure1.ts")

test("trains the three models, each test ELBO finite and the plug-in one improved, and writes figure1.png", () => {
  const out = join(mkdtempSync(join(tmpdir(), "sdeflow-figure1-")), "run")
  const run = Bun.spawnSync([process.execPath, script, "--iterations", "60", "--out", out], { env: process.env })
  const stdout = run.stdout.toString()
  expect(run.exitCode).toBe(0)
  const results = [...stdout.matchAll(/test ELBO (-?\d+\.\d+) → (-?\d+\.\d+) nats/g)].map((m) => [Number(m[1]), Number(m[2])] as const)
  expect(results).toHaveLength(6) // each model's line, then the summary
  for (const [before, after] of results) expect(Number.isFinite(before) && Number.isFinite(after)).toBe(true)
  const [pluginBefore, pluginAfter] = results[2]!
  expect(pluginAfter).toBeGreaterThan(pluginBefore) // the VP plug-in model improves fastest
  expect(existsSync(join(out, "figure1.png"))).toBe(true)
})
