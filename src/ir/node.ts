/**
 * The primitive graph. A `Node` is immutable: an op, its input nodes, and the shape/dtype it produces.
 * About thirty primitives cover everything; composite ops (softmax, mean, silu's gradient…) are built
 * from them by the Tensor API, so autodiff, fusion and both backends only ever see this list.
 */
import type { Shape } from "./shape.ts"

export type DType = "f32" | "i32" | "u32" | "bool"

export const unaryOps = [
  "neg", "abs", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid", "silu",
  "softplus", "erf", "square", "reciprocal", "floor", "sign", "not",
] as const
export type UnaryOp = (typeof unaryOps)[number]

export const binaryOps = ["add", "sub", "mul", "div", "pow", "max", "min", "lt", "le", "gt", "ge", "eq", "ne", "and", "or"] as const
export type BinaryOp = (typeof binaryOps)[number]
export const comparisonOps: ReadonlySet<BinaryOp> = new Set(["lt", "le", "gt", "ge", "eq", "ne"])

/** logsumexp is a primitive so it runs in one pass (online max rescaling) and softmax needs two kernels. */
export type ReduceOp = "sum" | "max" | "logsumexp"

export type Distribution = "uniform" | "normal" | "rademacher"

export interface Conv2dAttrs {
  readonly stride: number
  readonly padding: number
}

/** Every primitive. Movement ops (reshape … flip) are views: index arithmetic in the kernel, never copies. */
export type Op =
  | { readonly kind: "input"; readonly name: string }
  | { readonly kind: "const"; readonly value: number }
  | { readonly kind: "data"; readonly values: Float32Array }
  | { readonly kind: "gather" }
  | { readonly kind: "unary"; readonly fn: UnaryOp }
  | { readonly kind: "binary"; readonly fn: BinaryOp }
  | { readonly kind: "where" }
  | { readonly kind: "cast" }
  | { readonly kind: "reduce"; readonly fn: ReduceOp; readonly axes: readonly number[] }
  | { readonly kind: "reshape" }
  | { readonly kind: "permute"; readonly perm: readonly number[] }
  | { readonly kind: "expand" }
  | { readonly kind: "slice"; readonly starts: readonly number[]; readonly steps: readonly number[] }
  | { readonly kind: "pad"; readonly before: readonly number[]; readonly value: number }
  | { readonly kind: "concat"; readonly axis: number }
  | { readonly kind: "flip"; readonly axes: readonly number[] }
  | { readonly kind: "detach" }
  | { readonly kind: "random"; readonly dist: Distribution; readonly salt: number; readonly substeps?: number }
  | { readonly kind: "matmul" }
  | ({ readonly kind: "conv2d" } & Conv2dAttrs)
  | ({ readonly kind: "conv2dGradInput" } & Conv2dAttrs)
  | ({ readonly kind: "conv2dGradWeight" } & Conv2dAttrs)

export type OpKind = Op["kind"]

export interface Node {
  readonly id: number
  readonly op: Op
  readonly inputs: readonly Node[]
  readonly shape: Shape
  readonly dtype: DType
}

let nextId = 0

export const makeNode = (op: Op, inputs: readonly Node[], shape: Shape, dtype: DType): Node => ({
  id: nextId++,
  op,
  inputs,
  shape: [...shape],
  dtype,
})

export const movementKinds: ReadonlySet<OpKind> = new Set(["reshape", "permute", "expand", "slice", "pad", "concat", "flip", "detach"])
export const elementwiseKinds: ReadonlySet<OpKind> = new Set(["unary", "binary", "where", "cast", "const", "random"])
export const contractionKinds: ReadonlySet<OpKind> = new Set(["matmul", "conv2d", "conv2dGradInput", "conv2dGradWeight"])

/** A stable, human-readable name of a node's op ("binary.mul", "reduce.sum", "conv2d"). */
export const opName = (op: Op): string =>
  op.kind === "unary" || op.kind === "binary" ? op.fn : op.kind === "reduce" ? `${op.fn}` : op.kind === "random" ? `random.${op.dist}` : op.kind

/**
 * A hash-consing key for an op's attributes. Plain JSON writes null for NaN, +∞ and −∞ alike (and 0
 * for −0), which would merge a −∞ padding with a +∞ one; those values are spelled out instead.
 */
export const attributeKey = (op: object): string =>
  JSON.stringify(op, (_, v: unknown) => (typeof v === "number" && (!Number.isFinite(v) || Object.is(v, -0)) ? `#${Object.is(v, -0) ? "-0" : v}` : v))

/** Nodes reachable from `roots`, inputs before consumers. */
export const topoSort = (roots: readonly Node[]): Node[] => {
  const seen = new Set<number>()
  const order: Node[] = []
  const stack: [Node, boolean][] = roots.map((r) => [r, false])
  while (stack.length > 0) {
    const [node, expanded] = stack.pop()!
    if (expanded) {
      order.push(node)
      continue
    }
    if (seen.has(node.id)) continue
    seen.add(node.id)
    stack.push([node, true])
    for (let i = node.inputs.length - 1; i >= 0; i--) if (!seen.has(node.inputs[i]!.id)) stack.push([node.inputs[i]!, false])
  }
  return order
}
