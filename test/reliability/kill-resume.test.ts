/**
 * kill -9 at random moments — mid-step and mid-checkpoint-write — then restart: the run resumes from its last
 * checkpoint, which is always loadable, and its losses continue exactly as an uninterrupted run's do.
 * Slow tier (`SDEFLOW_SLOW_TESTS=1`): 20 child processes.
 */
import { afterAll, describe, expect, test, setDefaultTimeout } from "bun:test"
import { Effect } from "effect"
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { latestCheckpoint } from "../../src/platform/train/checkpoint.ts"
import { toyRun, toyShapes } from "../support/fault-child.ts"
import { lineReader, seeded } from "./children.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const slow = process.env.SDEFLOW_SLOW_TESTS === "1"
const scratch = mkdtempSync(join(tmpdir(), "sdeflow-kill-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

const steps = 400
const every = 5
const kills = Number(process.env.SDEFLOW_KILLS ?? 20)
const child = join(import.meta.dir, "..", "support", "fault-child.ts")

/** Every logged loss by step, from a metrics.jsonl that several (killed) processes appended to. */
const lossesIn = (out: string): { byStep: Map<number, number[]>; torn: number; started: { step: number; resumedFrom?: string }[] } => {
  const byStep = new Map<number, number[]>()
  const started: { step: number; resumedFrom?: string }[] = []
  let torn = 0
  for (const line of readFileSync(join(out, "metrics.jsonl"), "utf8").split("\n")) {
    if (line === "") continue
    let event: { _tag: string; step: number; loss?: number; resumedFrom?: string }
    try {
      event = JSON.parse(line)
    } catch {
      torn++
      continue
    }
    if (event._tag === "Step") byStep.set(event.step, [...(byStep.get(event.step) ?? []), event.loss!])
    if (event._tag === "Started") started.push({ step: event.step, ...(event.resumedFrom ? { resumedFrom: event.resumedFrom } : {}) })
  }
  return { byStep, torn, started }
}

describe.skipIf(!slow)("kill -9 during training and checkpoint writes", () => {
  test(`${kills} kills at random moments: every resume starts from a loadable checkpoint and the trajectory is unchanged`, async () => {
    const reference = join(scratch, "reference")
    await toyRun({ out: reference, steps, checkpointEvery: every })
    const expected = lossesIn(reference).byStep

    const out = join(scratch, "killed")
    const checkpoints = join(out, "checkpoints")
    mkdirSync(checkpoints, { recursive: true })
    const random = seeded(20261128)
    let previous = 0
    let midWrite = 0
    let midStep = 0
    for (let kill = 1; kill <= kills; kill++) {
      const proc = Bun.spawn([process.execPath, child, out, String(steps), String(every)], { stdout: "pipe", stderr: "inherit" })
      const lines = lineReader(proc.stdout)
      const started = await lines.next()
      expect(started).toBe(`Started ${previous}`)
      // Odd kills land inside a checkpoint write: the moment its temp file appears (1st–3rd write of this
      // process). Even kills land between events, after a random number of steps past the resume point.
      if (kill % 2 === 1) {
        const nth = 1 + Math.floor(random() * 3)
        let seen = 0
        // Polled, not fs.watch: watch events for short-lived files proved unreliable under Bun. The poll spins
        // for a few milliseconds at a time, then yields so the child's exit can be noticed.
        const temps = new Set<string>()
        while (seen < nth) {
          if (proc.exitCode !== null) throw new Error(`the child exited (${proc.exitCode}) before its checkpoint write ${nth}`)
          const until = performance.now() + 5
          while (seen < nth && performance.now() < until)
            for (const name of readdirSync(checkpoints))
              if (name.endsWith(".tmp") && !temps.has(name)) {
                temps.add(name)
                if (++seen === nth) {
                  proc.kill("SIGKILL")
                  break
                }
              }
          await Bun.sleep(0)
        }
      } else {
        const target = previous + 1 + Math.floor(random() * 3 * every)
        for (let line = await lines.next(); line !== `Step ${target}`; line = await lines.next());
        await Bun.sleep(random() * 3)
        proc.kill("SIGKILL")
      }
      await proc.exited
      expect(proc.signalCode).toBe("SIGKILL")

      const latest = await Effect.runPromise(latestCheckpoint(checkpoints, toyShapes))
      expect(latest.skipped).toEqual([]) // no file under a checkpoint name is ever torn
      expect(latest.found).toBeDefined()
      const step = latest.found!.checkpoint.step
      expect(step).toBeGreaterThanOrEqual(previous)
      if (latest.ignoredTemps.length > 0) midWrite++
      else midStep++
      previous = step
    }
    // Both kinds of moment must actually have happened for this test to mean anything.
    expect(midWrite).toBeGreaterThan(0)
    expect(midStep).toBeGreaterThan(0)
    expect(previous).toBeGreaterThan(0)

    // The last restart runs to the end.
    const final = Bun.spawn([process.execPath, child, out, String(steps), String(every)], { stdout: "pipe", stderr: "inherit" })
    expect(await final.exited).toBe(0)
    expect(readdirSync(checkpoints).filter((f) => f.endsWith(".tmp"))).toEqual([])

    const { byStep, torn, started } = lossesIn(out)
    expect(torn).toBe(0)
    expect(started).toHaveLength(kills + 1)
    // Every resume started where the previous process's last checkpoint was.
    for (const s of started.slice(1)) if (s.step > 0) expect(s.resumedFrom).toContain(`ckpt-${String(s.step).padStart(8, "0")}`)
    // Every step was logged at least once, and every time (recomputed after a kill or not) with the reference's loss.
    const mismatches: string[] = []
    for (let s = 1; s <= steps; s++) {
      const logged = byStep.get(s) ?? []
      if (logged.length === 0) mismatches.push(`step ${s} missing`)
      for (const loss of logged) if (loss !== expected.get(s)![0]) mismatches.push(`step ${s}: ${loss} vs ${expected.get(s)![0]}`)
    }
    expect(mismatches).toEqual([])
    const recomputed = [...byStep.values()].filter((l) => l.length > 1).length

    const [a, b] = await Promise.all([reference, out].map((dir) => Effect.runPromise(latestCheckpoint(join(dir, "checkpoints"), toyShapes))))
    expect(b!.found!.checkpoint.step).toBe(steps)
    for (const name of Object.keys(toyShapes)) {
      expect(b!.found!.checkpoint.params[name]!.data).toEqual(a!.found!.checkpoint.params[name]!.data)
      expect(b!.found!.checkpoint.adam.v[name]!.data).toEqual(a!.found!.checkpoint.adam.v[name]!.data)
    }
    console.log(`kill -9: ${kills} kills (${midWrite} mid-write, ${midStep} between writes), ${recomputed} steps recomputed, 0 torn checkpoints, 0 loss mismatches`)
  }, 240_000)
})
