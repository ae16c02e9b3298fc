/**
 * WebGPU flag values from the spec. Used instead of the `GPUBufferUsage`/`GPUShaderStage` globals,
 * which exist only after a platform installs them (module-load order must not matter).
 */
export const Usage = {
  MAP_READ: 0x0001,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
  QUERY_RESOLVE: 0x0200,
} as const

export const MapMode = { READ: 0x0001 } as const
export const TextureUsage = { COPY_DST: 0x02, TEXTURE_BINDING: 0x04 } as const
export const ShaderStage = { COMPUTE: 0x4 } as const
