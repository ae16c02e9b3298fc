/**
 * Preloaded once before the test files (bunfig.toml). Per-test timeouts are set in each file instead:
 * bun applies a preload's setDefaultTimeout to the first file only.
 */
process.env.XDG_RUNTIME_DIR ??= "/tmp"
