/**
 * Toy 2-D datasets generated on the device: each is a graph of random nodes, so a training step can
 * draw its own batch inside the step program — no host data path at all. Keyed by the run's seed and
 * step like all noise, so a resumed run sees the same batches.
 */
import { concat, gather, normal, rademacher, tensorData, uniform, type Tensor } from "../ir/tensor.ts"

export const toyDatasets = ["swissroll", "moons", "8gaussians", "checkerboard"] as const
export type ToyDataset = (typeof toyDatasets)[number]

const column = (t: Tensor): Tensor => t.reshape([t.shape[0]!, 1])
const pair = (a: Tensor, b: Tensor): Tensor => concat([column(a), column(b)], 1)

/** n samples [n, 2] of `name`, scaled to roughly unit variance. */
export const toySample = (name: ToyDataset, n: number): Tensor => {
  switch (name) {
    case "swissroll": {
      // The 2-D swiss roll (x, z of scikit-learn's make_swiss_roll), / 5 and with noise 0.5 / 5.
      const angle = uniform([n]).mul(2).add(1).mul(1.5 * Math.PI)
      const noise = normal([n, 2]).mul(0.1)
      return pair(angle.mul(angle.cos()), angle.mul(angle.sin())).mul(0.2).add(noise)
    }
    case "moons": {
      const angle = uniform([n]).mul(Math.PI)
      const upper = rademacher([n]).add(1).mul(0.5) // 1 for the upper moon, 0 for the lower
      const x = angle.cos().mul(upper.mul(2).sub(1)).add(upper.neg().add(1))
      const y = angle.sin().mul(upper.mul(2).sub(1)).add(upper.neg().add(1).mul(0.5))
      return pair(x.sub(0.5), y.sub(0.25)).mul(1.2).add(normal([n, 2]).mul(0.05))
    }
    case "8gaussians": {
      const k = uniform([n]).mul(8).floor()
      const angles = Array.from({ length: 8 }, (_, i) => (2 * Math.PI * i) / 8)
      const cx = gather(tensorData(angles.map((a) => Math.cos(a) * 2)), k)
      const cy = gather(tensorData(angles.map((a) => Math.sin(a) * 2)), k)
      return pair(cx, cy).add(normal([n, 2]).mul(0.1)).mul(1 / Math.SQRT2)
    }
    case "checkerboard": {
      // FFJORD's checkerboard: x1 ∈ [−2, 2); x2 in the squares whose colour alternates with ⌊x1⌋.
      const x1 = uniform([n]).mul(4).sub(2)
      const band = uniform([n]).sub(rademacher([n]).add(1))
      const parity = x1.floor().sub(x1.floor().mul(0.5).floor().mul(2))
      return pair(x1, band.add(parity)).mul(1.5 / 2)
    }
  }
}
