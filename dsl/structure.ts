/**
 * The structure of an SDE, read from its traced expressions rather than declared: whether the diffusion
 * depends on the state (multiplicative vs additive noise), whether each component's noise coefficient
 * depends only on that component (diagonal, hence commutative, noise), whether the diffusion is zero
 * (an ODE), and whether the drift is affine in the state. Each "no" carries the reason: the first
 * operation that breaks the property. Pure graph walks over the primitive graph.
 */
import { input } from "../src/ir/tensor.ts"
import { opName, topoSort, type Node } from "../src/ir/node.ts"
import { diffusionFields, driftFields, type Sde } from "./general-sde.ts"
import { fieldShapes, type Fields, type ShapeOf, type State } from "./state.ts"

export interface SdeStructure {
  /** σ is identically zero: the SDE is an ODE. */
  readonly zeroDiffusion: boolean
  /** σ does not depend on the state (noise is additive); Itô and Stratonovich then agree. */
  readonly additive: boolean
  /** Diagonal noise whose coefficient for each element depends on that element only (commutative). */
  readonly diagonal: boolean
  /** μ is affine in the state. */
  readonly linearDrift: boolean
  /** Why a property is false, by property name. */
  readonly reasons: Readonly<Partial<Record<"additive" | "diagonal" | "linearDrift" | "zeroDiffusion", string>>>
}

/** The state as program inputs named "x.<field>", and the time as the scalar input "t". */
export const stateInputs = (shape: ShapeOf<State>): Fields =>
  Object.fromEntries(Object.entries(fieldShapes(shape)).map(([name, s]) => [name, input(`x.${name}`, s)]))

/** Nodes of `roots`' graphs that depend on any of `sources` (by node id). */
const dependents = (roots: readonly Node[], sources: ReadonlySet<number>): Set<number> => {
  const out = new Set<number>()
  for (const node of topoSort(roots)) if (sources.has(node.id) || node.inputs.some((i) => out.has(i.id))) out.add(node.id)
  return out
}

const peel = new Set(["expand", "reshape", "permute", "detach"])

/** True when the node is a constant zero, possibly broadcast, reshaped or multiplied by anything. */
export const isZero = (node: Node): boolean => {
  if (node.op.kind === "const") return node.op.value === 0
  if (peel.has(node.op.kind)) return isZero(node.inputs[0]!)
  if (node.op.kind === "unary" && node.op.fn === "neg") return isZero(node.inputs[0]!)
  if (node.op.kind === "binary" && node.op.fn === "mul") return node.inputs.some(isZero)
  if (node.op.kind === "binary" && (node.op.fn === "add" || node.op.fn === "sub")) return node.inputs.every(isZero)
  return false
}

const elementwise = new Set(["unary", "binary", "where", "cast", "detach"])

/**
 * Why σ_i is not a function of x_i alone, or undefined when it is: every state-dependent node on the
 * way from the state to the coefficient must be elementwise, of full shape, and read one field only.
 */
const notDiagonal = (g: Fields, x: Fields): string | undefined => {
  for (const [name, coefficient] of Object.entries(g)) {
    for (const [other, state] of Object.entries(x)) {
      if (other === name) continue
      if (dependents([coefficient.node], new Set([state.node.id])).has(coefficient.node.id)) return `the noise of field "${name}" depends on field "${other}"`
    }
    const own = x[name]!
    const depends = dependents([coefficient.node], new Set([own.node.id]))
    for (const node of topoSort([coefficient.node])) {
      if (!depends.has(node.id) || node === own.node) continue
      if (!elementwise.has(node.op.kind) && !(node.op.kind === "expand" && node.shape.join() === own.shape.join()))
        return `the diffusion mixes elements of the state through ${opName(node.op)}`
      if (node.shape.join() !== own.shape.join()) return `the diffusion broadcasts a state-dependent value of shape [${node.shape.join(", ")}]`
    }
  }
  return undefined
}

const affineOps = new Set(["add", "sub"])
const movement = new Set(["reshape", "permute", "expand", "slice", "pad", "concat", "flip", "detach"])

/** Why μ is not affine in the state, or undefined when it is. */
const notAffine = (f: Fields, x: Fields): string | undefined => {
  const roots = Object.values(f).map((t) => t.node)
  const depends = dependents(roots, new Set(Object.values(x).map((t) => t.node.id)))
  for (const node of topoSort(roots)) {
    if (!depends.has(node.id) || node.op.kind === "input") continue
    const dependentInputs = node.inputs.filter((i) => depends.has(i.id)).length
    const op = node.op
    if (movement.has(op.kind) || (op.kind === "reduce" && op.fn === "sum")) continue
    if (op.kind === "unary" && op.fn === "neg") continue
    if (op.kind === "binary" && affineOps.has(op.fn)) continue
    if ((op.kind === "binary" && op.fn === "mul") || op.kind === "matmul" || op.kind === "conv2d") {
      if (dependentInputs === 1) continue
      return `${opName(op)} multiplies two state-dependent values`
    }
    if (op.kind === "binary" && op.fn === "div" && !depends.has(node.inputs[1]!.id)) continue
    if (op.kind === "where" && !depends.has(node.inputs[0]!.id)) continue
    return `the drift applies ${opName(op)} to the state`
  }
  return undefined
}

/** The structure of `process` on states of shape `shape`. */
export const analyseSde = <S extends State>(process: Sde<S>, shape: ShapeOf<S>): SdeStructure => {
  const x = stateInputs(shape)
  const t = input("t", [])
  const f = driftFields(process, x, shape, t)
  const g = diffusionFields(process, x, shape, t)
  const gRoots = Object.values(g).map((c) => c.node)
  const zeroDiffusion = gRoots.every(isZero)
  const depends = dependents(gRoots, new Set(Object.values(x).map((s) => s.node.id)))
  const dependentField = Object.entries(g).find(([, c]) => depends.has(c.node.id))
  const additive = zeroDiffusion || dependentField === undefined
  const diagonalWhy = process.noise !== "diagonal" ? `general noise with ${process.noise.brownian} Brownian motions` : additive ? undefined : notDiagonal(g, x)
  const linearWhy = notAffine(f, x)
  const reasons: Record<string, string> = {}
  if (!zeroDiffusion) reasons.zeroDiffusion = "the diffusion is not identically zero"
  if (!additive) reasons.additive = `the diffusion of field "${dependentField![0]}" depends on the state`
  if (diagonalWhy) reasons.diagonal = diagonalWhy
  if (linearWhy) reasons.linearDrift = linearWhy
  return { zeroDiffusion, additive, diagonal: diagonalWhy === undefined, linearDrift: linearWhy === undefined, reasons }
}

