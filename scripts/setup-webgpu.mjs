#!/usr/bin/env node
/**
 * npm postinstall: make sure this machine has a WebGPU adapter.
 *
 * A machine with a GPU (or a recent Mesa) installs nothing. A Debian/Ubuntu machine without one, when
 * we run as root, gets Mesa's lavapipe ≥ 24 (Dawn rejects Debian 12's own Mesa 22.3 — see STACK-NOTES).
 * Anywhere else we print the commands to run. This script must never fail an install: it always exits 0.
 * `SDEFLOW_SKIP_SETUP=1` turns it off; `--dry-run` prints what it would install without touching the
 * machine. Plain Node ESM so it runs before (and without) Bun.
 *
 * The decisions are pure functions exported for tests (test/cli/setup.test.ts); the IO is at the bottom.
 */
import { spawnSync } from "node:child_process"
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

/** Dawn accepts lavapipe from this Mesa major version on. */
export const minMesaMajor = 24

/** Parses /etc/os-release (KEY=value lines, values optionally quoted) into a record. */
export const parseOsRelease = (text) => {
  const fields = {}
  for (const line of text.split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim())
    if (m) fields[m[1]] = m[2].replace(/^(["'])(.*)\1$/, "$2")
  }
  return fields
}

/** The major version of a Debian package version ("1:25.0.7-2~bpo12+1" → 25), or null. */
export const mesaMajor = (version) => {
  const m = /^(?:\d+:)?(\d+)\./.exec(version ?? "")
  return m ? Number(m[1]) : null
}

/**
 * Which install route a distribution takes:
 * - "backports": Debian 12, whose own Mesa is too old but bookworm-backports has Mesa 25;
 * - "apt": Debian ≥ 13, Ubuntu ≥ 22.04 and other apt-based derivatives, whose Mesa is recent enough;
 * - "too-old": older Debian/Ubuntu, which have no Mesa ≥ 24 in any official suite;
 * - "other": not apt-based.
 */
export const classifyDistro = (os) => {
  const id = (os.ID ?? "").toLowerCase()
  const like = (os.ID_LIKE ?? "").toLowerCase().split(/\s+/)
  const version = Number.parseFloat(os.VERSION_ID ?? "")
  const name = os.PRETTY_NAME ?? (id || "unknown OS")
  if (id === "debian") {
    // testing/sid carry no VERSION_ID and always have a current Mesa.
    if (Number.isNaN(version) || version >= 13) return { route: "apt", name, codename: os.VERSION_CODENAME }
    if (version === 12) return { route: "backports", name, codename: "bookworm" }
    return { route: "too-old", name }
  }
  if (id === "ubuntu") return version >= 22.04 ? { route: "apt", name } : { route: "too-old", name }
  if (like.includes("debian") || like.includes("ubuntu")) return { route: "apt", name }
  return { route: "other", name }
}

/** The commands a person runs as root for a route (printed when we cannot run them ourselves). */
export const manualCommands = (route) => {
  switch (route) {
    case "backports":
      return [
        "sed -i 's/^Suites: bookworm bookworm-updates$/Suites: bookworm bookworm-updates bookworm-backports/' /etc/apt/sources.list.d/debian.sources",
        "apt-get update && apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1",
      ]
    case "apt":
      return ["apt-get update && apt-get install -y mesa-vulkan-drivers libvulkan1"]
    case "too-old":
      return ["# this release has no Mesa >= 24: upgrade to Debian 12+ / Ubuntu 22.04+, or install your GPU's Vulkan driver"]
    default:
      return ["# install your GPU vendor's Vulkan driver, or Mesa >= 24 with lavapipe (the CPU Vulkan driver)"]
  }
}

/**
 * Decides what to do. Input: `{ skip, adapter: { found, detail }, os (parsed os-release), isRoot, mesaVersion }`.
 * Output: `{ action: "skip" }`, `{ action: "none", message }`,
 * `{ action: "install", route, steps }` (steps: `{ say, enableBackports }` or `{ say, argv }`),
 * or `{ action: "advise", reason, commands }`.
 */
export const planSetup = ({ skip, adapter, os, isRoot, mesaVersion }) => {
  if (skip) return { action: "skip" }
  if (adapter.found) return { action: "none", message: adapter.detail }
  const distro = classifyDistro(os)
  // Mesa is already new enough: only libvulkan1 (or the driver package itself) can be missing.
  const mesaIsRecent = (mesaMajor(mesaVersion) ?? 0) >= minMesaMajor
  const route = distro.route === "backports" && mesaIsRecent ? "apt" : distro.route
  const commands = manualCommands(route)
  if (route === "other" || route === "too-old")
    return { action: "advise", reason: `no automatic install for ${distro.name}`, commands }
  if (!isRoot) return { action: "advise", reason: "not running as root, so nothing was installed", commands }
  const packages = ["mesa-vulkan-drivers", "libvulkan1"]
  const update = { say: "refreshing the package lists", argv: ["apt-get", "update"] }
  if (route === "backports")
    return {
      action: "install",
      route,
      steps: [
        { say: "enabling bookworm-backports (Debian 12's own Mesa 22.3 is rejected by Dawn)", enableBackports: "bookworm" },
        update,
        { say: "installing Mesa lavapipe from bookworm-backports", argv: ["apt-get", "install", "-y", "-t", "bookworm-backports", ...packages] },
      ],
    }
  return {
    action: "install",
    route,
    steps: [update, { say: "installing Mesa lavapipe", argv: ["apt-get", "install", "-y", ...packages] }],
  }
}

const activeLines = (text) => text.split("\n").filter((l) => !/^\s*#/.test(l))

/** Adds `<codename>-backports` to every deb822 `Suites:` line that lists `<codename>`; null when none did. */
export const addBackportsSuite = (deb822, codename) => {
  let changed = false
  const lines = deb822.split("\n").map((line) => {
    const m = /^Suites:(.*)$/i.exec(line)
    if (!m) return line
    const suites = m[1].trim().split(/\s+/)
    if (!suites.includes(codename) || suites.includes(`${codename}-backports`)) return line
    changed = true
    return `${line.trimEnd()} ${codename}-backports`
  })
  return changed ? lines.join("\n") : null
}

/** The one-line-style entry for backports, reusing the URI and options of an existing `deb … <codename> …` line. */
export const backportsListEntry = (listText, codename) => {
  for (const line of activeLines(listText)) {
    const m = /^\s*deb\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s/.exec(line)
    if (m && m[3] === codename) return `deb ${m[1] ?? ""}${m[2]} ${codename}-backports main\n`
  }
  return null
}

/**
 * How to enable backports given the apt source files (`[{ path, text }]`), never naming a mirror host:
 * `{ kind: "present" }`, `{ kind: "write", path, text, say }`, or `{ kind: "impossible", say }`.
 */
export const planBackports = (files, codename, listDir = "/etc/apt/sources.list.d") => {
  const suite = `${codename}-backports`
  const mentions = (text) => activeLines(text).some((l) => new RegExp(`(^|\\s)${suite}(\\s|$)`).test(l))
  if (files.some((f) => mentions(f.text))) return { kind: "present" }
  // The deb822 file (Debian 12's default) first, then other deb822 files, then one-line lists.
  const ordered = [...files].sort((a, b) => Number(b.path.endsWith("debian.sources")) - Number(a.path.endsWith("debian.sources")))
  for (const f of ordered.filter((f) => f.path.endsWith(".sources"))) {
    const text = addBackportsSuite(f.text, codename)
    if (text !== null) return { kind: "write", path: f.path, text, say: `adding ${suite} to the Suites of ${f.path}` }
  }
  for (const f of ordered.filter((f) => f.path.endsWith(".list"))) {
    const text = backportsListEntry(f.text, codename)
    if (text !== null) {
      const path = join(listDir, `${suite}.list`)
      return { kind: "write", path, text, say: `writing ${path} (same mirror as ${f.path})` }
    }
  }
  return { kind: "impossible", say: `no apt source for ${codename} found to extend with ${suite}` }
}

/** Vulkan driver manifests that Mesa ships; anything else in icd.d comes from a GPU vendor. */
const mesaIcd = /^(lvp|intel|intel_hasvk|radeon|virtio|gfxstream_vk|nouveau|freedreno|broadcom|panfrost|powervr_mesa|asahi|dzn)_icd/

/**
 * Without Bun we cannot ask Dawn, so judge from the installed Vulkan drivers: a vendor's driver, or
 * lavapipe from a Mesa Dawn accepts. Returns `{ found, detail }`.
 */
export const judgeIcds = (icdFiles, mesaVersion) => {
  const vendor = icdFiles.filter((f) => !mesaIcd.test(f))
  if (vendor.length > 0) return { found: true, detail: `Vulkan driver found: ${vendor.join(", ")} (WebGPU not probed: Bun is not installed yet)` }
  const lavapipe = icdFiles.some((f) => f.startsWith("lvp_icd"))
  const major = mesaMajor(mesaVersion)
  if (lavapipe && major !== null && major >= minMesaMajor)
    return { found: true, detail: `Vulkan driver found: Mesa ${mesaVersion} lavapipe (WebGPU not probed: Bun is not installed yet)` }
  if (lavapipe) return { found: false, detail: `Mesa ${mesaVersion ?? "(unknown version)"} lavapipe is too old for Dawn (needs Mesa >= ${minMesaMajor})` }
  return { found: false, detail: "no Vulkan driver installed" }
}

/** Dawn's own warnings (and their source locations) that precede doctor's message on stderr. */
const isDawnNoise = (line) => /^Warning:/.test(line) || /^\s+at /.test(line) || line.trim() === ""

/**
 * The verdict of a `doctor --json` run (`{ status, stdout, stderr, error }` as spawnSync returns it):
 * exit 0 with a report is an adapter; exit 2 is doctor's "no adapter", whose first line says why.
 */
export const judgeDoctor = ({ status, stdout, stderr, error }) => {
  if (status === 0) {
    try {
      const report = JSON.parse(stdout ?? "")
      const a = report.adapter ?? {}
      return { found: true, detail: `WebGPU adapter found: ${a.description || a.device || a.vendor || "unnamed adapter"}` }
    } catch {
      return { found: false, detail: "the WebGPU probe printed no report" }
    }
  }
  const why = (stderr ?? "").split("\n").find((l) => !isDawnNoise(l))
  if (status === 2 && why) return { found: false, detail: why.trim().replace(/\.$/, "") }
  return { found: false, detail: `the WebGPU probe failed (${error ? String(error.message) : why?.trim() || `exit ${status}`})` }
}

// ---------------------------------------------------------------------------------------------------
// IO: everything below touches the machine.

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const say = (line) => console.log(`sdeflow setup: ${line}`)

const readText = (path) => {
  try {
    return readFileSync(path, "utf8")
  } catch {
    return null
  }
}

/** Bun from this package's node_modules, the installing project's, or PATH. */
const findBun = () => {
  const candidates = [join(packageRoot, "node_modules/.bin/bun")]
  if (process.env.INIT_CWD) candidates.push(join(process.env.INIT_CWD, "node_modules/.bin/bun"))
  return candidates.find((p) => existsSync(p)) ?? null
}

const mesaVersionInstalled = () => {
  const r = spawnSync("dpkg-query", ["-W", "-f=${Version}", "mesa-vulkan-drivers"], { encoding: "utf8" })
  return r.status === 0 && r.stdout.trim() !== "" ? r.stdout.trim() : null
}

const icdFiles = () =>
  ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d"].flatMap((dir) => {
    try {
      return readdirSync(dir).filter((f) => f.endsWith(".json"))
    } catch {
      return []
    }
  })

/**
 * Asks the way every sdeflow entry point asks: `sdeflow doctor --json`, which refuses Dawn's null backend
 * and any adapter that gets a known-answer kernel wrong. Without Bun (its package failed to install),
 * judges the Vulkan drivers on disk instead. `env` is the environment the probe runs in.
 */
export const probeAdapter = (env = process.env) => {
  const bun = findBun()
  if (bun === null) return judgeIcds(icdFiles(), mesaVersionInstalled())
  const r = spawnSync(bun, ["--no-install", join(packageRoot, "src/platform/cli/main.ts"), "doctor", "--json"], {
    cwd: packageRoot,
    encoding: "utf8",
    timeout: 120_000,
    // Mesa logs an error on every start without XDG_RUNTIME_DIR.
    env: { ...env, XDG_RUNTIME_DIR: env.XDG_RUNTIME_DIR || "/tmp" },
  })
  return judgeDoctor(r)
}

const aptSourceFiles = () => {
  const dir = "/etc/apt/sources.list.d"
  const paths = ["/etc/apt/sources.list"]
  try {
    paths.push(...readdirSync(dir).filter((f) => f.endsWith(".list") || f.endsWith(".sources")).map((f) => join(dir, f)))
  } catch {}
  return paths.flatMap((path) => {
    const text = readText(path)
    return text === null ? [] : [{ path, text }]
  })
}

const enableBackports = (codename) => {
  const plan = planBackports(aptSourceFiles(), codename)
  if (plan.kind === "present") return true
  say(plan.say)
  if (plan.kind === "impossible") return false
  const temp = `${plan.path}.sdeflow-tmp`
  writeFileSync(temp, plan.text)
  renameSync(temp, plan.path)
  return true
}

const runStep = (step) => {
  say(`${step.say}: ${step.argv.join(" ")}`)
  const r = spawnSync(step.argv[0], step.argv.slice(1), {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    timeout: 20 * 60_000,
  })
  if (r.status !== 0) say(`${step.argv.slice(0, 2).join(" ")} failed (${r.error?.message ?? `exit ${r.status}`})`)
  return r.status === 0
}

const advise = (detail, reason, commands) => {
  say(`no WebGPU adapter (${detail}) — ${reason}.`)
  say("to install a CPU Vulkan driver (Mesa lavapipe >= 24), run as root:")
  for (const c of commands) console.log(`  ${c}`)
  say("then check with: npx bun src/platform/cli/main.ts doctor")
}

const main = (dryRun) => {
  const skip = process.env.SDEFLOW_SKIP_SETUP === "1"
  const adapter = skip ? { found: false, detail: "" } : probeAdapter()
  const os = parseOsRelease(readText("/etc/os-release") ?? "")
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0
  const mesaVersion = adapter.found || skip ? null : mesaVersionInstalled()
  const plan = planSetup({ skip, adapter, os, isRoot, mesaVersion })
  switch (plan.action) {
    case "skip":
      return
    case "none":
      console.log(plan.message)
      return
    case "advise":
      advise(adapter.detail, plan.reason, plan.commands)
      return
    case "install": {
      say(`${adapter.detail}; ${dryRun ? "would install" : "installing"} Mesa lavapipe (${plan.route} route)`)
      if (dryRun) {
        for (const step of plan.steps) say(`would run: ${step.argv ? step.argv.join(" ") : `(edit apt sources)`} — ${step.say}`)
        return
      }
      for (const step of plan.steps) {
        const ok = step.enableBackports ? enableBackports(step.enableBackports) : runStep(step)
        if (!ok) return advise(adapter.detail, "the automatic install failed", manualCommands(plan.route))
      }
      const after = probeAdapter()
      if (after.found) console.log(after.detail)
      else advise(after.detail, "still none after installing", manualCommands(plan.route))
    }
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    main(process.argv.includes("--dry-run"))
  } catch (e) {
    say(`skipped WebGPU set-up after an unexpected error: ${e instanceof Error ? e.message : String(e)}`)
  }
  process.exit(0)
}
