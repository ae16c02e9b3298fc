/** The project issue's performance targets, checked against a run and reported — never asserted. */
import type { TargetCheck, WorkloadResult } from "./results.ts"

const check = (name: string, target: string, measured: number | null | undefined, met: (m: number) => boolean): TargetCheck => ({
  name,
  target,
  measured: measured ?? null,
  met: measured === null || measured === undefined ? null : met(measured),
})

/** The issues' targets for the EM step at 4M states, the MLP train step and the matmul (the latest issue's where they were raised). */
export const checkTargets = (results: readonly WorkloadResult[]): TargetCheck[] => {
  const byId = (id: string) => results.find((r) => r.id === id && r.status === "ok")
  const em = byId("em-4m")
  const train = byId("mlp-dsm-train")
  // The largest matmul of the run (1024³ in the full run, the size the target names).
  const mm = results.filter((r) => r.id.startsWith("matmul-")).at(-1)
  const speedup = em?.fused && em.unfused && em.fused.ms > 0 ? em.unfused.ms / em.fused.ms : null
  return [
    check("EM step 4M states: dispatches per step (fused)", "= 1", em?.fused?.dispatches, (m) => m === 1),
    check("EM step 4M states: unfused time / fused time", "≥ 5", speedup, (m) => m >= 5),
    check("EM step 4M states: sdeflow time / PyTorch-CPU eager time", "≤ 0.25", em?.sdeflowOverTorch, (m) => m <= 0.25),
    check("MLP DSM train step, batch 8192: sdeflow time / PyTorch-CPU eager time", "≤ 2", train?.sdeflowOverTorch, (m) => m <= 2),
    check(`${mm?.title ?? "matmul"}: GFLOP/s (target stated for 1024³ on lavapipe)`, "≥ 30", mm?.status === "ok" ? mm.fused?.gflopPerS : null, (m) => m >= 30),
  ]
}
