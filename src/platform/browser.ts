/**
 * The browser edge: the page's own WebGPU (`navigator.gpu`). Everything else the web example uses is the
 * portable core, bundled from the same sources as the Bun library.
 */
import { NoAdapter } from "../runtime/errors.ts"
import { openGpu, withGpuFrom, type GpuHandle, type GpuPlatform } from "../runtime/gpu.ts"

/** What a browser needs for WebGPU, said whenever it offers none. */
const browserHint = "use a current Chrome or Edge (on Linux start it with --enable-unsafe-webgpu; without a GPU it runs on SwiftShader), or Safari 26+"

/** Autotuned tile shapes kept in the page's localStorage (absent or full: measured again next time). */
const browserPlatform: GpuPlatform = {
  tileCache: {
    read: () => globalThis.localStorage?.getItem("sdeflow.tiles") ?? undefined,
    write: (text) => globalThis.localStorage?.setItem("sdeflow.tiles", text),
  },
}

/** `navigator.gpu`, or NoAdapter saying what the browser lacks. */
export const browserGpu = (): GPU => {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu
  if (!gpu) throw new NoAdapter({ message: `this browser has no WebGPU (navigator.gpu is undefined): ${browserHint}` })
  return gpu
}

/** Opens the page's device (closed by `closeGpu` or when the page goes); no adapter is NoAdapter with the browser's hint, not the driver install hint. */
export const openBrowserGpu = async (): Promise<GpuHandle> => {
  try {
    return await openGpu(browserGpu(), browserPlatform)
  } catch (error) {
    if (error instanceof NoAdapter) throw new NoAdapter({ message: `this browser offered no WebGPU adapter (${error.message.split("\n")[0]}): ${browserHint}` })
    throw error
  }
}

/** `await withBrowserGpu(async (gpu) => …)`: a device for a page's async code, closed afterwards. */
export const withBrowserGpu = <A>(body: (gpu: GpuHandle) => Promise<A>): Promise<A> => withGpuFrom(browserGpu, body, browserPlatform)
