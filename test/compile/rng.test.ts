import { describe, expect, test, setDefaultTimeout } from "bun:test"
import fc from "fast-check"
import {
  draws,
  normalFromBits,
  normalTolerance,
  rademacherFromBits,
  randomBits,
  rngWgsl,
  threefry2x32,
  uniformFromBits,
} from "../../src/compile/rng.ts"
import { trigPrelude, wgslPrelude } from "../../src/compile/wgsl-prelude.ts"
import { withGpu } from "../../src/platform/bun.ts"
import { upload } from "../../src/runtime/buffers.ts"
import { Usage } from "../../src/runtime/flags.ts"
import { dispatch, poisoned, readWords } from "../support/raw-kernel.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const u32 = fc.nat({ max: 0xffffffff })

// ---------------------------------------------------------------------------------------------------
// Known answers
// ---------------------------------------------------------------------------------------------------

/** Threefry-2x32-20 vectors as `counter[2] key[2] → output[2]`: the "threefry2x32 20" lines of Random123's kat_vectors. */
type Words = [number, number, number, number, number, number]
interface KnownAnswer {
  readonly counter: [number, number]
  readonly key: [number, number]
  readonly output: number[]
  readonly label: string
}

const knownAnswers = `
00000000 00000000  00000000 00000000  6b200159 99ba4efe
ffffffff ffffffff  ffffffff ffffffff  1cb996fc bb002be7
243f6a88 85a308d3  13198a2e 03707344  c4923a9c 483df7a0
`
  .trim()
  .split("\n")
  .map((line) => {
    const [c0, c1, k0, k1, ...output] = line.trim().split(/\s+/).map((word) => parseInt(word, 16)) as Words
    const hex = (words: number[]) => words.map((w) => w.toString(16).padStart(8, "0")).join(" ")
    return { counter: [c0, c1], key: [k0, k1], output, label: `ctr ${hex([c0, c1])} key ${hex([k0, k1])}` } as KnownAnswer
  })

/**
 * Threefry-2x32 written again from the Skein paper's description, with BigInt words and the key schedule
 * as a table of its five injections: slow, but with none of rng.ts's shortcuts to get wrong.
 */
const threefryReference = (key: readonly number[], counter: readonly number[]): number[] => {
  const mask = 0xffffffffn
  const rotations = [13n, 15n, 26n, 6n, 17n, 29n, 16n, 24n]
  const k = [BigInt(key[0]!), BigInt(key[1]!), 0x1bd11bdan ^ BigInt(key[0]!) ^ BigInt(key[1]!)]
  const injections = [1, 2, 3, 4, 5].map((s) => [k[s % 3]!, (k[(s + 1) % 3]! + BigInt(s)) & mask])
  let [x0, x1] = [(BigInt(counter[0]!) + k[0]!) & mask, (BigInt(counter[1]!) + k[1]!) & mask]
  for (let round = 0; round < 20; round++) {
    const r = rotations[round % 8]!
    x0 = (x0 + x1) & mask
    x1 = (((x1 << r) | (x1 >> (32n - r))) & mask) ^ x0
    if (round % 4 === 3) {
      const [a, b] = injections[(round + 1) / 4 - 1]!
      ;[x0, x1] = [(x0 + a!) & mask, (x1 + b!) & mask]
    }
  }
  return [x0, x1].map(Number)
}

describe("Threefry-2x32-20 bits", () => {
  test.each(knownAnswers)("matches the published known answer for $label", ({ counter, key, output }) => {
    expect(threefry2x32(...key, ...counter)).toEqual(output as never)
  })

  test("the BigInt reference itself reproduces the published vectors", () => {
    for (const { counter, key, output } of knownAnswers) expect(threefryReference(key, counter)).toEqual(output)
  })

  test("agrees with a BigInt reference on random keys and counters", () => {
    fc.assert(
      fc.property(fc.tuple(u32, u32), fc.tuple(u32, u32), ([k0, k1], [c0, c1]) => {
        expect(threefry2x32(k0, k1, c0, c1)).toEqual(threefryReference([k0, k1], [c0, c1]) as never)
      }),
      { numRuns: 2000 },
    )
  })

  test("randomBits keys by (seed, salt) and counts by (block, step)", () => {
    expect(randomBits(0x13198a2e, 0x03707344, 0x85a308d3, 0x243f6a88)).toEqual([0xc4923a9c, 0x483df7a0])
  })

  test("outputs are u32 numbers, and negative int32 inputs mean the same bits as their u32 value", () => {
    const fromSigned = threefry2x32(-1, -2, -3, -4)
    expect(fromSigned).toEqual(threefry2x32(0xffffffff, 0xfffffffe, 0xfffffffd, 0xfffffffc))
    for (const word of fromSigned) expect(word >>> 0).toBe(word)
  })

  test("the same inputs give identical bits; changing any one input changes both words", () => {
    fc.assert(
      fc.property(fc.tuple(u32, u32, u32, u32), fc.nat({ max: 3 }), fc.integer({ min: 1, max: 0xffffffff }), (inputs, which, delta) => {
        const [seed, salt, step, block] = inputs
        const bits = randomBits(seed, salt, step, block)
        expect(randomBits(seed, salt, step, block)).toEqual(bits)
        const changed = [...inputs]
        changed[which] = (changed[which]! + delta) >>> 0
        const other = randomBits(...(changed as [number, number, number, number]))
        // A 1-in-2^32 coincidence per word is possible in principle; both at once is not.
        expect(other.filter((word, i) => word === bits[i]).length).toBeLessThan(2)
      }),
      { numRuns: 500 },
    )
  })
})

// ---------------------------------------------------------------------------------------------------
// Mappings from words to variates
// ---------------------------------------------------------------------------------------------------

const edgeWords = [0, 1, 0x1ff, 0x200, 0x3ff, 0x7fffffff, 0x80000000, 0x80000200, 0xfffffdff, 0xfffffe00, 0xffffffff]

describe("uniform, normal and Rademacher mappings", () => {
  test("uniforms lie strictly inside (0, 1) and are float32 values, even at the extreme words", () => {
    for (const bits of [...edgeWords, ...fc.sample(u32, 2000)]) {
      const u = uniformFromBits(bits)
      expect(u).toBeGreaterThan(0)
      expect(u).toBeLessThan(1)
      expect(Math.fround(u)).toBe(u)
    }
    expect(uniformFromBits(0)).toBe(2 ** -24)
    expect(uniformFromBits(0xffffffff)).toBe(1 - 2 ** -24)
  })

  test("uniforms are monotone in the word and use its top 23 bits", () => {
    expect(uniformFromBits(0x1ff)).toBe(uniformFromBits(0))
    expect(uniformFromBits(0x200)).toBe(uniformFromBits(0) + 2 ** -23)
    fc.assert(fc.property(u32, u32, (a, b) => (a >>> 9 <= b >>> 9) === (uniformFromBits(a) <= uniformFromBits(b))))
  })

  test("normals are finite float32 values bounded by the Box–Muller radius at u = 2^-24", () => {
    const maxRadius = Math.sqrt(-2 * Math.log(2 ** -24))
    for (const b0 of edgeWords)
      for (const b1 of edgeWords) {
        const z = normalFromBits(b0, b1)
        expect(Number.isFinite(z)).toBe(true)
        expect(Math.fround(z)).toBe(z)
        expect(Math.abs(z)).toBeLessThanOrEqual(maxRadius + 1e-6)
      }
  })

  test("Rademacher is +1 for a clear top bit and −1 for a set one", () => {
    expect(rademacherFromBits(0)).toBe(1)
    expect(rademacherFromBits(0x7fffffff)).toBe(1)
    expect(rademacherFromBits(0x80000000)).toBe(-1)
    expect(rademacherFromBits(0xffffffff)).toBe(-1)
  })
})

// ---------------------------------------------------------------------------------------------------
// Statistics of the CPU stream
// ---------------------------------------------------------------------------------------------------

/** `count` uniforms from consecutive element indices, as `draws` maps them (both words of each block, in order). */
const uniformStream = (seed: number, salt: number, step: number, count: number): Float64Array =>
  Float64Array.from({ length: count }, (_, i) => draws.uniform(seed, salt, step, i))

const mean = (xs: ArrayLike<number>): number => {
  let sum = 0
  for (let i = 0; i < xs.length; i++) sum += xs[i]!
  return sum / xs.length
}

/** Pearson correlation of x[i] with y[i]. */
const correlation = (x: ArrayLike<number>, y: ArrayLike<number>): number => {
  const mx = mean(x)
  const my = mean(y)
  let sxy = 0
  let sxx = 0
  let syy = 0
  for (let i = 0; i < x.length; i++) {
    const dx = x[i]! - mx
    const dy = y[i]! - my
    sxy += dx * dy
    sxx += dx * dx
    syy += dy * dy
  }
  return sxy / Math.sqrt(sxx * syy)
}

const million = 1_000_000

describe("draws: one block serves two adjacent elements", () => {
  test("element 2b + w takes word w of block b (uniform, Rademacher), or the cosine (w = 0) or sine (w = 1) of its Box–Muller pair (normal)", () => {
    fc.assert(
      fc.property(u32, u32, u32, fc.nat({ max: 2 ** 30 - 1 }), (seed, salt, step, block) => {
        const bits = randomBits(seed, salt, step, block)
        for (const w of [0, 1] as const) {
          const index = 2 * block + w
          expect(draws.uniform(seed, salt, step, index)).toBe(uniformFromBits(bits[w]))
          expect(draws.rademacher(seed, salt, step, index)).toBe(rademacherFromBits(bits[w]))
          expect(draws.normal(seed, salt, step, index)).toBe(normalFromBits(bits[0], bits[1], w))
        }
      }),
    )
  })
})

describe("statistics of the CPU stream", () => {
  const uniforms = uniformStream(20_211_101, 7, 3, million)

  test("uniforms pass a 100-bin chi-square test at 1M samples (99.9% bound)", () => {
    const bins = new Float64Array(100)
    for (const u of uniforms) bins[Math.floor(u * 100)]! += 1
    const expected = million / 100
    let chiSquare = 0
    for (const observed of bins) chiSquare += (observed - expected) ** 2 / expected
    // scipy.stats.chi2.ppf(0.999, df=99)
    expect(chiSquare).toBeLessThan(148.23)
  })

  test("lag-1 serial correlation is below 4/√n", () => {
    const r = correlation(uniforms.subarray(0, million - 1), uniforms.subarray(1))
    expect(Math.abs(r)).toBeLessThan(4 / Math.sqrt(million - 1))
  })

  test("normals have mean 0, variance 1 and kurtosis 3 within 5 standard errors at 1M samples", () => {
    const normals = Float64Array.from({ length: million }, (_, i) => draws.normal(99, 1, 0, i))
    let m1 = 0
    let m2 = 0
    let m4 = 0
    for (const z of normals) {
      m1 += z
      m2 += z * z
      m4 += z ** 4
    }
    m1 /= million
    m2 /= million
    m4 /= million
    // Standard errors of the sample moments of N(0, 1): √(1/n), √(2/n), √((E z⁸ − 9)/n) = √(96/n).
    expect(Math.abs(m1)).toBeLessThan(5 / Math.sqrt(million))
    expect(Math.abs(m2 - m1 * m1 - 1)).toBeLessThan(5 * Math.sqrt(2 / million))
    expect(Math.abs(m4 - 3)).toBeLessThan(5 * Math.sqrt(96 / million))
  })

  test("the cosine and sine normals of one Box–Muller pair are uncorrelated, in value and in square (|r| < 4/√n)", () => {
    const pairs = million / 2
    const cosines = Float64Array.from({ length: pairs }, (_, i) => draws.normal(3, 4, 5, 2 * i))
    const sines = Float64Array.from({ length: pairs }, (_, i) => draws.normal(3, 4, 5, 2 * i + 1))
    expect(Math.abs(correlation(cosines, sines))).toBeLessThan(4 / Math.sqrt(pairs))
    expect(Math.abs(correlation(cosines.map((z) => z * z), sines.map((z) => z * z)))).toBeLessThan(4 / Math.sqrt(pairs))
  })

  test("Rademacher signs are balanced within 5 standard errors", () => {
    let sum = 0
    for (let i = 0; i < million / 2; i++) for (const word of randomBits(5, 2, 1, i)) sum += rademacherFromBits(word)
    expect(Math.abs(sum / million)).toBeLessThan(5 / Math.sqrt(million))
  })

  const n = 200_000
  type Stream = readonly [seed: number, salt: number, step: number]
  const streamPairs: [string, Stream, Stream][] = [
    ["adjacent steps", [1, 0, 10], [1, 0, 11]],
    ["adjacent salts", [1, 0, 10], [1, 1, 10]],
    ["adjacent seeds", [1, 0, 10], [2, 0, 10]],
  ]
  test.each(streamPairs)("streams of %s are uncorrelated (|r| < 4/√n)", (_, [seedA, saltA, stepA], [seedB, saltB, stepB]) => {
    const r = correlation(uniformStream(seedA, saltA, stepA, n), uniformStream(seedB, saltB, stepB, n))
    expect(Math.abs(r)).toBeLessThan(4 / Math.sqrt(n))
  })
})

// ---------------------------------------------------------------------------------------------------
// GPU (WGSL) against CPU (TypeScript)
// ---------------------------------------------------------------------------------------------------

/** Per index b: the 4 words of blocks 2b and 2b + 1 (`random_bits4`); their 4 uniforms, 4 signs and 4 normals by the 4-element forms (`rng_*4`). */
const streamKernel = `${wgslPrelude}
${trigPrelude}
${rngWgsl}
struct Params { seed: u32, salt: u32, step: u32, count: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> indices: array<u32>;
@group(0) @binding(2) var<storage, read_write> bits_out: array<vec4u>;
@group(0) @binding(3) var<storage, read_write> uniforms_out: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> signs_out: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> normals_out: array<vec4f>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= params.count) { return; }
  let bits = random_bits4(params.seed, params.salt, params.step, indices[i]);
  bits_out[i] = bits;
  uniforms_out[i] = rng_uniform4(bits);
  signs_out[i] = rng_rademacher4(bits);
  normals_out[i] = rng_normal4(bits);
}
`

/** The mapping functions alone, on word pairs chosen by the test (to reach the extreme words). */
const mappingKernel = `${wgslPrelude}
${trigPrelude}
${rngWgsl}
@group(0) @binding(0) var<storage, read> words: array<vec2u>;
@group(0) @binding(1) var<storage, read_write> mapped: array<vec4f>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= arrayLength(&words)) { return; }
  let pair = words[i];
  mapped[i] = vec4f(rng_uniform(pair.x), rng_rademacher(pair.x), rng_normal_pair(pair.x, pair.y));
}
`

/** The u32 pattern of a float32, so float results compare bit for bit (and -0 ≠ +0). */
const f32Bits = (x: number): number => new Uint32Array(new Float32Array([x]).buffer)[0]!

describe("WGSL agrees with the TypeScript oracle", () => {
  test("bits, uniforms and Rademacher signs bit for bit, normals within normalTolerance", async () => {
    await withGpu(async (gpu) => {
      const scenario = fc.record({
        seed: u32,
        salt: u32,
        step: u32,
        // Random indices, including the ends of the u32 range, followed by a consecutive run.
        indices: fc.array(fc.oneof(u32, fc.constantFrom(0, 1, 0x7fffffff, 0xffffffff)), { minLength: 1, maxLength: 2000 }),
        runStart: u32,
      })
      await fc.assert(
        fc.asyncProperty(scenario, async ({ seed, salt, step, indices, runStart }) => {
          const all = [...indices, ...Array.from({ length: 1000 }, (_, i) => (runStart + i) >>> 0)]
          const count = all.length
          const params = upload(gpu.device, new Uint32Array([seed, salt, step, count]), Usage.UNIFORM)
          const indexBuffer = upload(gpu.device, new Uint32Array(all))
          const outputs = [poisoned(gpu, 4 * count), poisoned(gpu, 4 * count), poisoned(gpu, 4 * count), poisoned(gpu, 4 * count)]
          try {
            await dispatch(gpu, streamKernel, ["uniform", "read", "read_write", "read_write", "read_write", "read_write"], [params, indexBuffer, ...outputs], count)
            const [bits, uniforms, signs, normals] = await Promise.all(outputs.map((b) => readWords(gpu, b)))
            const normalValues = new Float32Array(normals!.buffer)
            for (let i = 0; i < count; i++) {
              // Blocks 2b and 2b + 1, with WGSL's u32 wrap-around.
              const expected = [...randomBits(seed, salt, step, (2 * all[i]!) >>> 0), ...randomBits(seed, salt, step, (2 * all[i]! + 1) >>> 0)]
              expected.forEach((word, w) => {
                const j = 4 * i + w
                // Plain throws, not expect(): this loop makes ~50k comparisons per run.
                if (bits![j] !== word) throw new Error(`bits differ at index ${all[i]} word ${w}: gpu ${bits![j]?.toString(16)} cpu ${word.toString(16)}`)
                if (uniforms![j] !== f32Bits(uniformFromBits(word))) throw new Error(`uniform differs at index ${all[i]} word ${w}`)
                if (signs![j] !== f32Bits(rademacherFromBits(word))) throw new Error(`sign differs at index ${all[i]} word ${w}`)
              })
              const cpuNormals = [0, 1, 2, 3].map((w) => normalFromBits(expected[w & 2]!, expected[(w & 2) + 1]!, (w & 1) as 0 | 1))
              for (let k = 0; k < 4; k++) {
                const error = Math.abs(normalValues[4 * i + k]! - cpuNormals[k]!)
                // Written as !(≤) so a NaN fails too; a poison word reads as -6.3e18, far outside the bound.
                if (!(error <= normalTolerance)) throw new Error(`normal differs by ${error} at index ${all[i]}`)
              }
            }
          } finally {
            for (const b of [params, indexBuffer, ...outputs]) b.destroy()
          }
        }),
        { numRuns: 6 },
      )
    })
  })

  test("the mappings agree at the extreme words as well", async () => {
    await withGpu(async (gpu) => {
      const pairs = edgeWords.flatMap((a) => edgeWords.map((b) => [a, b] as const))
      const count = pairs.length
      const words = upload(gpu.device, new Uint32Array(pairs.flat()))
      const mapped = poisoned(gpu, 4 * count)
      await dispatch(gpu, mappingKernel, ["read", "read_write"], [words, mapped], count)
      const result = await readWords(gpu, mapped)
      const asFloat = new Float32Array(result.buffer)
      pairs.forEach(([a, b], i) => {
        expect([result[4 * i], result[4 * i + 1]]).toEqual([f32Bits(uniformFromBits(a)), f32Bits(rademacherFromBits(a))])
        expect(Math.abs(asFloat[4 * i + 2]! - normalFromBits(a, b, 0))).toBeLessThanOrEqual(normalTolerance)
        expect(Math.abs(asFloat[4 * i + 3]! - normalFromBits(a, b, 1))).toBeLessThanOrEqual(normalTolerance)
      })
      words.destroy()
      mapped.destroy()
    })
  })
})
