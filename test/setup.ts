/** Preloaded before every test file (bunfig.toml): lavapipe is a CPU, so kernel tests get a longer default timeout. */
import { setDefaultTimeout } from "bun:test"

setDefaultTimeout(120_000)
process.env.XDG_RUNTIME_DIR ??= "/tmp"
