/** Pearson correlation of two equally long samples (test support for independence checks). */
export const correlation = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let [ma, mb] = [0, 0]
  for (let i = 0; i < a.length; i++) [ma, mb] = [ma + a[i]!, mb + b[i]!]
  ;[ma, mb] = [ma / a.length, mb / a.length]
  let [sab, saa, sbb] = [0, 0, 0]
  for (let i = 0; i < a.length; i++) {
    const [da, db] = [a[i]! - ma, b[i]! - mb]
    ;[sab, saa, sbb] = [sab + da * db, saa + da * da, sbb + db * db]
  }
  return sab / Math.sqrt(saa * sbb)
}
