/**
 * Graph simplification before scheduling: common-subexpression elimination (one node per distinct
 * computation), constant folding of scalar constants, and algebraic identities (x·1, x+0, x/1).
 * Autodiff output is full of these, so this pass is what keeps gradient kernels small.
 */
import { attributeKey, makeNode, topoSort, type Node } from "../ir/node.ts"
import { evalBinary, evalUnary } from "./scalar-eval.ts"

/** The constant a node always equals, seeing through broadcasts and reshapes; undefined otherwise. */
const constantOf = (n: Node): number | undefined =>
  n.op.kind === "const" ? n.op.value : n.op.kind === "expand" || n.op.kind === "reshape" ? constantOf(n.inputs[0]!) : undefined

const keyOf = (n: Node, inputs: readonly Node[]): string =>
  `${attributeKey(n.op)}|${n.dtype}|${n.shape.join("x")}|${inputs.map((i) => i.id).join(",")}`

/** Rewrites `roots` into an equivalent, smaller graph; returns the new roots in the same order. */
export const simplify = (roots: readonly Node[]): Node[] => {
  const interned = new Map<string, Node>()
  const mapped = new Map<number, Node>()
  const intern = (n: Node, inputs: readonly Node[]): Node => {
    const key = keyOf(n, inputs)
    const hit = interned.get(key)
    if (hit) return hit
    const same = inputs.every((i, k) => i === n.inputs[k])
    const node = same ? n : makeNode(n.op, inputs, n.shape, n.dtype)
    interned.set(key, node)
    return node
  }
  const constant = (value: number, like: Node): Node => {
    const scalar = intern(makeNode({ kind: "const", value }, [], [], like.dtype), [])
    return like.shape.length === 0 ? scalar : intern(makeNode({ kind: "expand" }, [], like.shape, like.dtype), [reshapeToRank(scalar, like.shape.length)])
  }
  const reshapeToRank = (scalar: Node, rank: number): Node =>
    rank === 0 ? scalar : intern(makeNode({ kind: "reshape" }, [], new Array(rank).fill(1), scalar.dtype), [scalar])

  for (const n of topoSort(roots)) {
    const inputs = n.inputs.map((i) => mapped.get(i.id)!)
    mapped.set(n.id, rewrite(n, inputs) ?? intern(n, inputs))
  }
  return roots.map((r) => mapped.get(r.id)!)

  function rewrite(n: Node, inputs: readonly Node[]): Node | undefined {
    const op = n.op
    const [a, b] = inputs.map(constantOf)
    if (op.kind === "unary" && a !== undefined && n.dtype === "f32") return constant(evalUnary(op.fn, a), n)
    if (op.kind === "binary") {
      if (a !== undefined && b !== undefined && n.dtype !== "bool") return constant(evalBinary(op.fn, a, b), n)
      const [x, y] = inputs as [Node, Node]
      if (n.dtype !== x.dtype) return undefined
      if ((op.fn === "mul" && b === 1) || ((op.fn === "add" || op.fn === "sub") && b === 0) || (op.fn === "div" && b === 1)) return x
      if ((op.fn === "mul" && a === 1) || (op.fn === "add" && a === 0)) return y
    }
    if (op.kind === "where" && a !== undefined) return a ? inputs[1] : inputs[2]
    if (op.kind === "permute") return permuted(inputs[0]!, op.perm)
    return undefined
  }

  /**
   * Transposes folded away: permute∘permute composes (to nothing when it is the identity), and the
   * transpose of a product becomes the product of transposed views, (A·B)ᵀ = Bᵀ·Aᵀ, so the
   * contraction writes the layout its reader wants instead of a copy kernel reordering it afterwards
   * (the weight gradient of every x·Wᵀ layer is such a transpose).
   */
  function permuted(x: Node, perm: readonly number[]): Node | undefined {
    const permute = (of: Node, p: readonly number[]): Node =>
      p.every((axis, i) => axis === i) ? of : intern(makeNode({ kind: "permute", perm: p }, [], p.map((axis) => of.shape[axis]!), of.dtype), [of])
    if (x.op.kind === "permute") {
      const inner = x.op.perm
      return permute(x.inputs[0]!, perm.map((axis) => inner[axis]!))
    }
    const rank = perm.length
    const swapsLastTwo = rank >= 2 && perm.every((axis, i) => axis === (i === rank - 2 ? rank - 1 : i === rank - 1 ? rank - 2 : i))
    if (x.op.kind !== "matmul" || !swapsLastTwo) return undefined
    const [a, b] = x.inputs as [Node, Node]
    const transpose = (of: Node) => permuted(of, perm) ?? permute(of, perm)
    if (a.shape.length !== rank || b.shape.length !== rank) return undefined
    return intern(makeNode({ kind: "matmul" }, [], perm.map((axis) => x.shape[axis]!), x.dtype), [transpose(b), transpose(a)])
  }
}
