import { describe, expect, test, setDefaultTimeout } from "bun:test"
import {
  addBackportsSuite,
  backportsListEntry,
  classifyDistro,
  judgeIcds,
  mesaMajor,
  parseOsRelease,
  planBackports,
  planSetup,
} from "../../scripts/setup-webgpu.mjs"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

const bookworm = parseOsRelease(`PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION_CODENAME=bookworm
ID=debian`)
const trixie = { ID: "debian", VERSION_ID: "13", VERSION_CODENAME: "trixie", PRETTY_NAME: "Debian 13" }
const noble = { ID: "ubuntu", ID_LIKE: "debian", VERSION_ID: "24.04", PRETTY_NAME: "Ubuntu 24.04" }
const focal = { ID: "ubuntu", ID_LIKE: "debian", VERSION_ID: "20.04", PRETTY_NAME: "Ubuntu 20.04" }
const fedora = { ID: "fedora", VERSION_ID: "41", PRETTY_NAME: "Fedora Linux 41" }
const none = { found: false, detail: "Dawn found no WebGPU adapter" }
const argvOf = (plan: ReturnType<typeof planSetup>) =>
  plan.action === "install" ? plan.steps.map((s) => ("argv" in s ? s.argv.join(" ") : `enable ${s.enableBackports}`)) : []

describe("reading the machine", () => {
  test("os-release values lose their quotes", () => {
    expect(bookworm.ID).toBe("debian")
    expect(bookworm.VERSION_ID).toBe("12")
    expect(bookworm.PRETTY_NAME).toBe("Debian GNU/Linux 12 (bookworm)")
  })

  test("Mesa's major version is read through epochs and backport suffixes", () => {
    expect(mesaMajor("25.0.7-2~bpo12+1")).toBe(25)
    expect(mesaMajor("22.3.6-1+deb12u1")).toBe(22)
    expect(mesaMajor("1:24.2.8-1ubuntu1")).toBe(24)
    expect(mesaMajor(null)).toBeNull()
    expect(mesaMajor("")).toBeNull()
  })

  test("distributions map to install routes", () => {
    expect(classifyDistro(bookworm).route).toBe("backports")
    expect(classifyDistro(trixie).route).toBe("apt")
    expect(classifyDistro({ ID: "debian", PRETTY_NAME: "Debian sid" }).route).toBe("apt")
    expect(classifyDistro({ ID: "debian", VERSION_ID: "11" }).route).toBe("too-old")
    expect(classifyDistro(noble).route).toBe("apt")
    expect(classifyDistro(focal).route).toBe("too-old")
    expect(classifyDistro({ ID: "linuxmint", ID_LIKE: "ubuntu debian", VERSION_ID: "22" }).route).toBe("apt")
    expect(classifyDistro(fedora).route).toBe("other")
  })
})

describe("planSetup: what the postinstall does", () => {
  test("SDEFLOW_SKIP_SETUP wins over everything", () => {
    expect(planSetup({ skip: true, adapter: none, os: bookworm, isRoot: true, mesaVersion: null }).action).toBe("skip")
  })

  test("a machine with an adapter installs nothing, whatever its OS", () => {
    const found = { found: true, detail: "WebGPU adapter found: NVIDIA H200" }
    for (const os of [bookworm, fedora, focal]) {
      expect(planSetup({ skip: false, adapter: found, os, isRoot: true, mesaVersion: "22.3.6" })).toEqual({
        action: "none",
        message: "WebGPU adapter found: NVIDIA H200",
      })
    }
  })

  test("Debian 12 as root enables backports, updates, then installs from bookworm-backports", () => {
    const plan = planSetup({ skip: false, adapter: none, os: bookworm, isRoot: true, mesaVersion: "22.3.6-1+deb12u1" })
    expect(argvOf(plan)).toEqual([
      "enable bookworm",
      "apt-get update",
      "apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1",
    ])
  })

  test("Debian 12 whose Mesa is already ≥ 24 skips backports and installs what is missing", () => {
    const plan = planSetup({ skip: false, adapter: none, os: bookworm, isRoot: true, mesaVersion: "25.0.7-2~bpo12+1" })
    expect(argvOf(plan)).toEqual(["apt-get update", "apt-get install -y mesa-vulkan-drivers libvulkan1"])
  })

  test("newer Debian and Ubuntu install Mesa from their own suites", () => {
    for (const os of [trixie, noble]) {
      const plan = planSetup({ skip: false, adapter: none, os, isRoot: true, mesaVersion: null })
      expect(argvOf(plan)).toEqual(["apt-get update", "apt-get install -y mesa-vulkan-drivers libvulkan1"])
    }
  })

  test("without root it prints the commands instead of running them", () => {
    const plan = planSetup({ skip: false, adapter: none, os: bookworm, isRoot: false, mesaVersion: null })
    expect(plan.action).toBe("advise")
    if (plan.action !== "advise") return
    expect(plan.reason).toContain("root")
    expect(plan.commands.join("\n")).toContain("-t bookworm-backports mesa-vulkan-drivers libvulkan1")
  })

  test("other systems and releases too old for Mesa 24 get advice, even as root", () => {
    for (const os of [fedora, focal]) {
      const plan = planSetup({ skip: false, adapter: none, os, isRoot: true, mesaVersion: null })
      expect(plan.action).toBe("advise")
    }
  })
})

describe("enabling bookworm-backports without naming a mirror", () => {
  const debianSources = `Types: deb
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
`

  test("the deb822 stanza listing bookworm gains bookworm-backports; the security stanza does not", () => {
    const edited = addBackportsSuite(debianSources, "bookworm")
    expect(edited).toContain("Suites: bookworm bookworm-updates bookworm-backports\n")
    expect(edited).toContain("Suites: bookworm-security\n")
    expect(edited?.replace(" bookworm-backports", "")).toBe(debianSources)
  })

  test("a file that already lists backports is left alone", () => {
    expect(addBackportsSuite(addBackportsSuite(debianSources, "bookworm")!, "bookworm")).toBeNull()
  })

  test("a one-line sources.list entry is copied with its URI and options", () => {
    const list = "# deb http://old.example/debian bookworm main\ndeb [signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib\n"
    expect(backportsListEntry(list, "bookworm")).toBe("deb [signed-by=/k.gpg] http://mirror.example/debian bookworm-backports main\n")
    expect(backportsListEntry("deb http://mirror.example/debian bullseye main\n", "bookworm")).toBeNull()
  })

  test("planBackports prefers debian.sources, falls back to a new .list, and notices when backports exist", () => {
    const d822 = { path: "/etc/apt/sources.list.d/debian.sources", text: debianSources }
    const list = { path: "/etc/apt/sources.list", text: "deb http://mirror.example/debian bookworm main\n" }
    const viaDeb822 = planBackports([list, d822], "bookworm")
    expect(viaDeb822.kind === "write" && viaDeb822.path).toBe(d822.path)

    const viaList = planBackports([list], "bookworm")
    expect(viaList).toMatchObject({
      kind: "write",
      path: "/etc/apt/sources.list.d/bookworm-backports.list",
      text: "deb http://mirror.example/debian bookworm-backports main\n",
    })

    const present = { path: "/etc/apt/sources.list.d/bp.list", text: "deb http://mirror.example/debian bookworm-backports main\n" }
    expect(planBackports([list, present], "bookworm").kind).toBe("present")
    expect(planBackports([{ path: "/etc/apt/sources.list", text: "# deb … bookworm-backports\n" }], "bookworm").kind).toBe("impossible")
  })
})

describe("judging Vulkan drivers before Bun is installed", () => {
  test("lavapipe counts only from Mesa 24 on", () => {
    expect(judgeIcds(["lvp_icd.x86_64.json", "radeon_icd.x86_64.json"], "25.0.7-2~bpo12+1").found).toBe(true)
    const old = judgeIcds(["lvp_icd.x86_64.json"], "22.3.6-1+deb12u1")
    expect(old.found).toBe(false)
    expect(old.detail).toContain("too old")
  })

  test("a GPU vendor's driver counts; Mesa's hardware drivers alone do not", () => {
    expect(judgeIcds(["nvidia_icd.json"], null).found).toBe(true)
    expect(judgeIcds(["intel_icd.x86_64.json", "radeon_icd.x86_64.json"], "22.3.6").found).toBe(false)
    expect(judgeIcds([], null)).toEqual({ found: false, detail: "no Vulkan driver installed" })
  })
})

describe("running the script", () => {
  test("on this machine (dry run) it finds the adapter, prints one line and exits 0", () => {
    const r = Bun.spawnSync(["node", "scripts/setup-webgpu.mjs", "--dry-run"])
    expect(r.exitCode).toBe(0)
    const lines = r.stdout.toString().trim().split("\n")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^WebGPU adapter found: \S/)
  })

  test("SDEFLOW_SKIP_SETUP=1 prints nothing and exits 0", () => {
    const r = Bun.spawnSync(["node", "scripts/setup-webgpu.mjs"], { env: { ...process.env, SDEFLOW_SKIP_SETUP: "1" } })
    expect(r.exitCode).toBe(0)
    expect(r.stdout.toString()).toBe("")
  })
})
