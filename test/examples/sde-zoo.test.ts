/** examples/sde-zoo.ts runs as a user's script (imports checked in imports.test.ts): prints orders near theory, writes its PNG. */
import { expect, test, setDefaultTimeout } from "bun:test"
import { existsSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { exampleScript } from "../support/examples.ts"

setDefaultTimeout(300_000)
const script = exampleScript("sde-zoo.ts")

test("solves the four SDEs on WebGPU, measures EM ≈ ½ and Milstein ≈ 1, and writes paths.png", () => {
  const out = join(mkdtempSync(join(tmpdir(), "sdeflow-zoo-")), "zoo")
  const run = Bun.spawnSync([process.execPath, script, "--out", out], { env: process.env })
  const stdout = run.stdout.toString()
  expect(run.exitCode).toBe(0)
  const orders = [...stdout.matchAll(/order (\d+\.\d+)/g)].map((m) => Number(m[1]))
  expect(orders).toHaveLength(2)
  expect(Math.abs(orders[0]! - 0.5)).toBeLessThan(0.15)
  expect(Math.abs(orders[1]! - 1)).toBeLessThan(0.15)
  expect(stdout).toContain("double-well Langevin: additive noise, diagonal, nonlinear drift")
  expect(existsSync(join(out, "paths.png"))).toBe(true)
})
