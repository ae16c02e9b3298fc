/** Parses sdeflow-light's dumped `state_dict` listings (shared/reference/*.state_dict.txt) for the UNet tests. */
import { readFileSync } from "node:fs"
import type { UNetConfig } from "../../src/nn/unet.ts"

export interface ReferenceStateDict {
  readonly config: UNetConfig
  readonly tensorCount: number
  readonly parameterCount: number
  /** [name, shape] in state_dict order. */
  readonly entries: readonly (readonly [string, readonly number[]])[]
}

// Copies of ../shared/reference/*.state_dict.txt, kept in the repo so the tests run from any checkout.
const referenceDir = new URL("./fixtures/", import.meta.url)

/** Python tuple/list literal "(1, 2, 2)" or "(16,)" → numbers. */
const numbers = (literal: string): number[] =>
  literal.replace(/[()[\]\s]/g, "").split(",").filter((s) => s !== "").map(Number)

/** Reads `sdeflow-light-unet-<name>.state_dict.txt`: a config line, a count line, then "name\t[shape]" rows. */
export const readReference = (name: string): ReferenceStateDict => {
  const lines = readFileSync(new URL(`sdeflow-light-unet-${name}.state_dict.txt`, referenceDir), "utf8").trimEnd().split("\n")
  const field = (key: string): string => {
    const match = lines[0]!.match(new RegExp(`'${key}': (\\([^)]*\\)|[^,}]+)`))
    if (!match) throw new Error(`config line lacks ${key}: ${lines[0]}`)
    return match[1]!
  }
  const counts = lines[1]!.match(/# (\d+) tensors, (\d+) parameters/)
  if (!counts) throw new Error(`unexpected count line: ${lines[1]}`)
  return {
    config: {
      inputChannels: Number(field("input_channels")),
      inputHeight: Number(field("input_height")),
      ch: Number(field("ch")),
      chMult: numbers(field("ch_mult")),
      numResBlocks: Number(field("num_res_blocks")),
      attnResolutions: numbers(field("attn_resolutions")),
      resampWithConv: field("resamp_with_conv") === "True",
    },
    tensorCount: Number(counts[1]),
    parameterCount: Number(counts[2]),
    entries: lines.slice(2).map((line) => {
      const [name, shape] = line.split("\t") as [string, string]
      return [name, numbers(shape)] as const
    }),
  }
}
