/**
 * The texture a kernel reads one storage buffer through (compile/lane-matmul.ts says why): created with
 * the executable, refilled from the buffer by a copy recorded just before the kernel's pass.
 */
import { TEXTURE_ROW, type OperandTexture } from "../compile/lane-matmul.ts"
import { TextureUsage } from "./flags.ts"

const TEXEL_BYTES = 16

export interface MirroredOperand {
  readonly texture: GPUTexture
  /** Records the copy buffer → texture into `encoder` (outside any pass). */
  readonly refresh: (encoder: GPUCommandEncoder) => void
}

export const mirrorOperand = (device: GPUDevice, source: GPUBuffer, operand: OperandTexture, label: string): MirroredOperand => {
  const fullRows = Math.floor(operand.texels / TEXTURE_ROW)
  const rest = operand.texels % TEXTURE_ROW
  const width = Math.min(operand.texels, TEXTURE_ROW)
  const texture = device.createTexture({
    label,
    size: [width, fullRows + (rest > 0 ? 1 : 0)],
    format: "rgba32float",
    usage: TextureUsage.TEXTURE_BINDING | TextureUsage.COPY_DST,
  })
  const bytesPerRow = TEXTURE_ROW * TEXEL_BYTES
  const refresh = (encoder: GPUCommandEncoder) => {
    if (fullRows > 0) encoder.copyBufferToTexture({ buffer: source, bytesPerRow, rowsPerImage: fullRows }, { texture }, [TEXTURE_ROW, fullRows])
    // The last, partial row on its own: a copy of whole rows would read past the buffer's end.
    if (rest > 0) encoder.copyBufferToTexture({ buffer: source, offset: fullRows * bytesPerRow, bytesPerRow, rowsPerImage: 1 }, { texture, origin: [0, fullRows] }, [rest, 1])
  }
  return { texture, refresh }
}
