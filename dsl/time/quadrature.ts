/** Composite Gauss–Legendre quadrature, cumulative over a uniform grid of panels (float64). */

/** Nodes and weights of the n-point Gauss–Legendre rule on [−1, 1] (Newton on Legendre Pₙ). */
export function gaussLegendre(n: number): { readonly nodes: Float64Array; readonly weights: Float64Array } {
  const nodes = new Float64Array(n)
  const weights = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    let x = Math.cos((Math.PI * (i + 0.75)) / (n + 0.5)) // Tricomi's initial guess for root i
    let dp = 1
    for (let iter = 0; iter < 100; iter++) {
      // Three-term recurrence for Pₙ(x) and its derivative.
      let p0 = 1
      let p1 = x
      for (let k = 2; k <= n; k++) [p0, p1] = [p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k]
      dp = (n * (x * p1 - p0)) / (x * x - 1)
      const step = p1 / dp
      x -= step
      if (Math.abs(step) < 1e-16) break
    }
    nodes[i] = x
    weights[i] = 2 / ((1 - x * x) * dp * dp)
  }
  return { nodes, weights }
}

const rules = new Map<number, ReturnType<typeof gaussLegendre>>()

/**
 * values[k] = ∫_{x0}^{x0 + k·h} f, h = (x1 − x0)/panels, k = 0…panels, each panel by an `order`-point
 * rule. Nodes are interior, so an integrable endpoint singularity (1/√x at 0) is never evaluated.
 */
export function cumulativeIntegral(
  f: (x: number) => number, x0: number, x1: number, panels = 512, order = 8,
): Float64Array {
  let rule = rules.get(order)
  if (!rule) { rule = gaussLegendre(order); rules.set(order, rule) }
  const h = (x1 - x0) / panels
  const values = new Float64Array(panels + 1)
  let total = 0
  for (let k = 0; k < panels; k++) {
    const mid = x0 + (k + 0.5) * h
    let panel = 0
    for (let j = 0; j < order; j++) panel += rule.weights[j]! * f(mid + 0.5 * h * rule.nodes[j]!)
    total += 0.5 * h * panel
    values[k + 1] = total
  }
  return values
}
