import { expect, test } from "bun:test"
import { mkdtempSync, mkdirSync, symlinkSync, writeFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"

test('a Bun script elsewhere can `import { … } from "sdeflow"` and run a compiled program', async () => {
  const dir = mkdtempSync(join(tmpdir(), "sdeflow-consumer-"))
  try {
    mkdirSync(join(dir, "node_modules"))
    symlinkSync(resolve(import.meta.dir, ".."), join(dir, "node_modules", "sdeflow"))
    writeFileSync(
      join(dir, "main.ts"),
      `import { compile, input, grad } from "sdeflow"
const exe = await compile(({ x }) => x.mul(x).sum(), { x: [3] }, { backend: "cpu" })
exe.run({ x: [1, 2, 3] })
const [g] = grad(input("w", [2]).square().sum(), [input("w", [2])])
console.log(JSON.stringify({ value: Array.from(await exe.read("out")), gradShape: g!.shape }))
`,
    )
    const proc = Bun.spawn([process.execPath, "main.ts"], { cwd: dir, stdout: "pipe", stderr: "pipe" })
    const [out, err, code] = [await new Response(proc.stdout).text(), await new Response(proc.stderr).text(), await proc.exited]
    expect(err).toBe("")
    expect(code).toBe(0)
    expect(JSON.parse(out)).toEqual({ value: [14], gradShape: [2] })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
