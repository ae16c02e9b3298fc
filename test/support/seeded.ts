/** The tests' seeded generator is the library's host PRNG (mulberry32), so every randomised test replays exactly. */
export { seededWords } from "../../src/data/host-random.ts"
