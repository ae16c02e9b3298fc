/**
 * Reverse-mode autodiff on the primitive graph. Every rule builds ordinary graph nodes, so a
 * gradient is itself a program: it fuses, runs on every backend, and can be differentiated again.
 * Contractions stay contractions (the grad of a matmul is two matmuls, of a conv two conv kernels).
 */
import { topoSort, type Node } from "./node.ts"
import { programError } from "./errors.ts"
import { conv2d, conv2dGradInput, conv2dGradWeight, ones, Tensor, where, zeros } from "./tensor.ts"
import { sizeOf } from "./shape.ts"

type Cotangents = (Tensor | undefined)[]

const SQRT_PI_INV_2 = 2 / Math.sqrt(Math.PI)

/** Spreads g back over a strided slice: zeros between the kept elements along `axis`. */
const undoStride = (g: Tensor, axis: number, step: number): Tensor => {
  if (step === 1) return g
  const shape = [...g.shape]
  const withLane = g.reshape([...shape.slice(0, axis + 1), 1, ...shape.slice(axis + 1)])
  const widths = withLane.shape.map((_, i): [number, number] => (i === axis + 1 ? [0, step - 1] : [0, 0]))
  return withLane.pad(widths).reshape([...shape.slice(0, axis), shape[axis]! * step, ...shape.slice(axis + 1)])
}

/** The cotangent of each input of `node`, given the cotangent `g` of its output. */
const rule = (node: Node, g: Tensor): Cotangents => {
  const [a, b] = node.inputs.map((n) => new Tensor(n))
  const out = new Tensor(node)
  const op = node.op
  switch (op.kind) {
    case "input": case "const": case "data": case "random": case "detach":
      return []
    case "gather":
      // Tables are constants of the program; their indices are integers: no gradient flows.
      return []
    case "unary": {
      const x = a!
      switch (op.fn) {
        case "neg": return [g.neg()]
        case "abs": return [g.mul(x.sign())]
        case "exp": return [g.mul(out)]
        case "log": return [g.div(x)]
        case "log1p": return [g.div(x.add(1))]
        case "expm1": return [g.mul(out.add(1))]
        case "sqrt": return [g.mul(0.5).div(out)]
        case "rsqrt": return [g.mul(out.pow(3)).mul(-0.5)]
        case "sin": return [g.mul(x.cos())]
        case "cos": return [g.mul(x.sin()).neg()]
        case "tanh": return [g.mul(out.square().neg().add(1))]
        case "sigmoid": return [g.mul(out).mul(out.neg().add(1))]
        case "silu": {
          const s = x.sigmoid()
          return [g.mul(s.mul(x.mul(s.neg().add(1)).add(1)))]
        }
        case "softplus": return [g.mul(x.sigmoid())]
        case "erf": return [g.mul(x.square().neg().exp()).mul(SQRT_PI_INV_2)]
        case "square": return [g.mul(x).mul(2)]
        case "reciprocal": return [g.mul(out.square()).neg()]
        case "floor": case "sign": case "not": return []
      }
    }
    case "binary": {
      const [x, y] = [a!, b!]
      switch (op.fn) {
        case "add": return [g, g]
        case "sub": return [g, g.neg()]
        case "mul": return [g.mul(y), g.mul(x)]
        case "div": return [g.div(y), g.mul(out).div(y).neg()]
        case "pow": return [g.mul(y).mul(x.pow(y.sub(1))), g.mul(out).mul(x.log())]
        case "max": return [where(x.ge(y), g, 0), where(x.ge(y), 0, g)]
        case "min": return [where(x.le(y), g, 0), where(x.le(y), 0, g)]
        default: return []
      }
    }
    case "where": {
      const cond = a!
      return [undefined, where(cond, g, 0), where(cond, 0, g)]
    }
    case "cast":
      return a!.dtype === "f32" ? [g.cast("f32")] : []
    case "reduce":
      if (op.fn === "sum") return [g.broadcastTo(a!.shape)]
      if (op.fn === "logsumexp") return [g.broadcastTo(a!.shape).mul(a!.sub(out.broadcastTo(a!.shape)).exp())]
      // Ties share the gradient in full, as in most frameworks; a tie is measure-zero for real data.
      return [where(a!.eq(out.broadcastTo(a!.shape)), g.broadcastTo(a!.shape), 0)]
    case "reshape":
      return [g.reshape(a!.shape)]
    case "permute": {
      const inverse = new Array<number>(op.perm.length)
      op.perm.forEach((p, i) => (inverse[p] = i))
      return [g.permute(inverse)]
    }
    case "expand": {
      const axes = a!.shape.flatMap((d, i) => (d === 1 && node.shape[i] !== 1 ? [i] : []))
      return [g.sum(axes, true)]
    }
    case "slice": {
      let spread = g
      op.steps.forEach((step, axis) => (spread = undoStride(spread, axis, step)))
      const widths = a!.shape.map((d, i): [number, number] => [op.starts[i]!, Math.max(0, d - op.starts[i]! - spread.shape[i]!)])
      const padded = spread.pad(widths)
      return [padded.slice(new Array(a!.rank).fill(0), a!.shape)]
    }
    case "pad":
      return [g.slice(op.before, op.before.map((s, i) => s + a!.shape[i]!))]
    case "concat": {
      let offset = 0
      return node.inputs.map((n) => {
        const starts = n.shape.map((_, i) => (i === op.axis ? offset : 0))
        offset += n.shape[op.axis]!
        return g.slice(starts, n.shape.map((d, i) => starts[i]! + d))
      })
    }
    case "flip":
      return [g.flip(op.axes)]
    case "matmul":
      return [g.matmul(b!.transpose()), a!.transpose().matmul(g)]
    case "conv2d":
      return [conv2dGradInput(g, b!, a!.shape, op.stride, op.padding), conv2dGradWeight(a!, g, b!.shape, op.stride, op.padding)]
    case "conv2dGradInput":
      // Bilinear in (g, w): <h, dX(g, w)> = <conv(h, w), g> = <dW(h, g), w>.
      return [conv2d(g, b!, { stride: op.stride, padding: op.padding }), conv2dGradWeight(g, a!, b!.shape, op.stride, op.padding)]
    case "conv2dGradWeight":
      // <h, dW(x, g)> = <dX(g, h), x> = <conv(x, h), g>.
      return [conv2dGradInput(b!, g, a!.shape, op.stride, op.padding), conv2d(a!, g, { stride: op.stride, padding: op.padding })]
  }
}

/** Nodes on some path from a `wrt` node to `output`: only these need cotangents. */
const relevant = (order: readonly Node[], wrt: ReadonlySet<number>): Set<number> => {
  const live = new Set<number>()
  for (const n of order) if (wrt.has(n.id) || (n.op.kind !== "detach" && n.inputs.some((i) => live.has(i.id)))) live.add(n.id)
  return live
}

/** Vector–Jacobian product: cotangent of each `wrt` given the cotangent of `output` (zeros if unreachable). */
export const vjp = (output: Tensor, wrt: readonly Tensor[], cotangent: Tensor): Tensor[] => {
  if (cotangent.shape.join() !== output.shape.join())
    throw programError("vjp", `cotangent shape [${cotangent.shape}] differs from output shape [${output.shape}]`)
  const order = topoSort([output.node])
  const live = relevant(order, new Set(wrt.map((w) => w.node.id)))
  const grads = new Map<number, Tensor>([[output.node.id, cotangent]])
  for (let i = order.length - 1; i >= 0; i--) {
    const node = order[i]!
    const g = grads.get(node.id)
    if (!g || !live.has(node.id) || node.inputs.length === 0) continue
    const contributions = rule(node, g)
    node.inputs.forEach((input, k) => {
      const c = contributions[k]
      if (!c || !live.has(input.id)) return
      const previous = grads.get(input.id)
      grads.set(input.id, previous ? previous.add(c) : c)
    })
  }
  return wrt.map((w) => grads.get(w.node.id) ?? zeros(w.shape))
}

/**
 * Gradient of a scalar `output` (one element) with respect to each of `wrt`. A larger output is an error,
 * as in JAX: summing it silently would hide a loss that forgot its reduction; `vjp` takes a cotangent.
 */
export const grad = (output: Tensor, wrt: readonly Tensor[]): Tensor[] => {
  if (sizeOf(output.shape) !== 1)
    throw programError("grad", `grad needs a scalar output, got shape [${output.shape}]: reduce it (sum, mean) first, or use vjp with a cotangent`)
  return vjp(output, wrt, ones(output.shape))
}

/** `[output, grad(output, wrt)]`, sharing the forward graph. */
export const valueAndGrad = (output: Tensor, wrt: readonly Tensor[]): [Tensor, Tensor[]] => [output, grad(output, wrt)]

