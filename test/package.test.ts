import { expect, test, setDefaultTimeout } from "bun:test"
import { runAsConsumer } from "./support/consumer.ts"

// lavapipe is a CPU: kernel-heavy tests outlast bun's 5 s default (set per file: a preload's setting reaches only the first).
setDefaultTimeout(120_000)

test('a Bun script elsewhere can `import { … } from "sdeflow"` and run a compiled program', async () => {
  const { stdout, stderr, code } = await runAsConsumer(`import { compile, input, grad, vp, time, mlp, initParams, paramLayout, packHost } from "sdeflow"
const exe = await compile(({ x }) => x.mul(x).sum(), { x: [3] }, { backend: "cpu" })
exe.run({ x: [1, 2, 3] })
const w = input("w", [2])
const [g] = grad(w.square().sum(), [w])
const net = mlp({ dataDim: 2, hidden: [4] })
const layout = paramLayout(net.params)
console.log(JSON.stringify({ value: Array.from(await exe.read("out")), gradShape: g!.shape, variance: time.show(vp().marginals.variance), flat: [layout.size, packHost(initParams(net, 0), layout).length] }))
`)
  expect(stderr).toBe("")
  expect(code).toBe(0)
  expect(JSON.parse(stdout)).toEqual({ value: [14], gradShape: [2], variance: "1 - exp(-0.1·t - 9.95·t²)", flat: [26, 26] })
})
