/** WebGPU's guaranteed limits that the kernel renderers design around (an adapter may offer more; no kernel asks for it). */

/** maxComputeWorkgroupsPerDimension: grids wider than this spill into y (elementwise kernels) or loop (row blocks of a matmul). */
export const MAX_GROUPS = 65535
