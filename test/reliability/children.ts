/** Helpers for tests that drive child processes: a stdout line reader and a seeded random source. */

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

/** mulberry32: a small seeded generator, so random fault moments are the same on every run. */
export const seeded = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
