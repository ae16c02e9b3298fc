/** Energy distance between two point clouds (Székely): 2E‖X−Y‖ − E‖X−X'‖ − E‖Y−Y'‖ ≥ 0, 0 iff equal laws. */
export const energyDistance = (x: ArrayLike<number>, y: ArrayLike<number>, dims: number, maxPoints = 1000): number => {
  const nx = Math.min(x.length / dims, maxPoints)
  const ny = Math.min(y.length / dims, maxPoints)
  const mean = (a: ArrayLike<number>, na: number, b: ArrayLike<number>, nb: number, same: boolean): number => {
    let total = 0
    let pairs = 0
    for (let i = 0; i < na; i++)
      for (let j = same ? i + 1 : 0; j < nb; j++) {
        let d = 0
        for (let k = 0; k < dims; k++) d += (a[i * dims + k]! - b[j * dims + k]!) ** 2
        total += Math.sqrt(d)
        pairs++
      }
    return total / pairs
  }
  return 2 * mean(x, nx, y, ny, false) - mean(x, nx, x, nx, true) - mean(y, ny, y, ny, true)
}
