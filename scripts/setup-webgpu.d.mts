/** Types for the pure decision functions of setup-webgpu.mjs (the npm postinstall), used by its tests. */

export type OsRelease = Readonly<Record<string, string>>
export type Route = "backports" | "apt" | "too-old" | "other"
export interface AdapterProbe {
  readonly found: boolean
  readonly detail: string
}
export type SetupStep =
  | { readonly say: string; readonly enableBackports: string }
  | { readonly say: string; readonly argv: ReadonlyArray<string> }
export type SetupPlan =
  | { readonly action: "skip" }
  | { readonly action: "none"; readonly message: string }
  | { readonly action: "install"; readonly route: "backports" | "apt"; readonly steps: ReadonlyArray<SetupStep> }
  | { readonly action: "advise"; readonly reason: string; readonly commands: ReadonlyArray<string> }
export type BackportsPlan =
  | { readonly kind: "present" }
  | { readonly kind: "write"; readonly path: string; readonly text: string; readonly say: string }
  | { readonly kind: "impossible"; readonly say: string }

export declare const minMesaMajor: number
export declare const parseOsRelease: (text: string) => OsRelease
export declare const mesaMajor: (version: string | null | undefined) => number | null
export declare const classifyDistro: (os: OsRelease) => { route: Route; name: string; codename?: string }
export declare const manualCommands: (route: Route) => ReadonlyArray<string>
export declare const planSetup: (input: {
  readonly skip: boolean
  readonly adapter: AdapterProbe
  readonly os: OsRelease
  readonly isRoot: boolean
  readonly mesaVersion: string | null
}) => SetupPlan
export declare const addBackportsSuite: (deb822: string, codename: string) => string | null
export declare const backportsListEntry: (listText: string, codename: string) => string | null
export declare const planBackports: (
  files: ReadonlyArray<{ readonly path: string; readonly text: string }>,
  codename: string,
  listDir?: string,
) => BackportsPlan
export declare const judgeIcds: (icdFiles: ReadonlyArray<string>, mesaVersion: string | null) => AdapterProbe
/** The verdict of one `sdeflow doctor --json` run, as spawnSync reports it. */
export declare const judgeDoctor: (run: {
  readonly status: number | null
  readonly stdout?: string | null
  readonly stderr?: string | null
  readonly error?: Error
}) => AdapterProbe
/** Asks `sdeflow doctor --json` (through Bun) in environment `env`; without Bun, judges the drivers on disk. */
export declare const probeAdapter: (env?: Record<string, string | undefined>) => AdapterProbe
