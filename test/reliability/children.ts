/** Helpers for tests that drive child processes: a stdout line reader and a seeded random source. */
import { seededWords } from "../support/seeded.ts"

/** Lines of a child's stdout, one per `next()`; rejects when the child's output ends first. */
export const lineReader = (stream: ReadableStream<Uint8Array>) => {
  const reader = stream.getReader()
  const decoder = new TextDecoder()
  let buffered = ""
  return {
    async next(): Promise<string> {
      while (!buffered.includes("\n")) {
        const { value, done } = await reader.read()
        if (done) throw new Error(`the child's output ended early; it ended with ${JSON.stringify(buffered)}`)
        buffered += decoder.decode(value, { stream: true })
      }
      const end = buffered.indexOf("\n")
      const line = buffered.slice(0, end)
      buffered = buffered.slice(end + 1)
      return line
    },
    /** Everything the child printed from here to its exit. */
    async rest(): Promise<string> {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) return buffered
        buffered += decoder.decode(value, { stream: true })
      }
    },
  }
}

/** A seeded generator in [0, 1), so random fault moments are the same on every run. */
export const seeded = (seed: number) => {
  const next = seededWords(seed)
  return () => next() / 4294967296
}
