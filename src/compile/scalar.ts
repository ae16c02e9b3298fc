/**
 * The kernel-level IR: a hash-consed DAG of scalar operations that computes one output element.
 * Both backends (WGSL and the JS oracle) render exactly this, so they cannot disagree on structure.
 * Index arithmetic is ordinary i32 expressions here, simplified as they are built.
 */
import { attributeKey, type BinaryOp, type Distribution, type DType, type ReduceOp, type UnaryOp } from "../ir/node.ts"

export type ScalarType = DType

/** Integer-only operations used by index arithmetic (truncating division, non-negative modulo operands). */
export type IndexOp = "idiv" | "mod"

/**
 * Non-negative dividends below this bound can be divided by a per-kernel parameter through an f32
 * reciprocal, exactly and without a correction step (`sdf_idiv` in the prelude says why).
 */
export const SMALL_DIVIDEND = 2 ** 22

export type ScalarOp =
  /**
   * `role`, when set, names what a size is (an axis of a shape, say): two sizes equal only by value stay
   * two nodes, so whether they are shared does not depend on the sizes (see lift-constants.ts). An
   * `opaque` size is never folded either: code over it is the same whatever its value.
   */
  | { readonly k: "const"; readonly value: number; readonly role?: string; readonly opaque?: true }
  | { readonly k: "uniform"; readonly slot: number }
  | { readonly k: "gid" }
  | { readonly k: "external"; readonly name: string }
  | { readonly k: "loopVar"; readonly loop: number }
  | { readonly k: "load"; readonly binding: number }
  | { readonly k: "unary"; readonly fn: UnaryOp }
  /** `smallDividend`: an idiv/mod whose dividend is known to lie in [0, SMALL_DIVIDEND). */
  | { readonly k: "binary"; readonly fn: BinaryOp | IndexOp; readonly smallDividend?: true }
  | { readonly k: "select" }
  | { readonly k: "cast" }
  /** args: [index] or, with sub-steps B, [element, sub-step]: keyed at (step·B + sub-step, element). */
  | { readonly k: "random"; readonly dist: Distribution; readonly salt: number; readonly substeps?: number }
  | { readonly k: "reduce"; readonly fn: ReduceOp; readonly loop: number; readonly extent: number }

export interface Scalar {
  readonly id: number
  readonly op: ScalarOp
  readonly args: readonly Scalar[]
  readonly type: ScalarType
  /** Loop variables this value depends on: it must be computed inside all of those loops. */
  readonly loops: ReadonlySet<number>
}

const isConst = (s: Scalar, value?: number): boolean => s.op.k === "const" && !s.op.opaque && (value === undefined || s.op.value === value)
const constValue = (s: Scalar): number => (s.op as { value: number }).value

/** Builds scalar DAGs with hash-consing (one node per distinct expression) and local simplification. */
export class ScalarBuilder {
  private readonly interned = new Map<string, Scalar>()
  private nextId = 0
  private nextLoop = 0

  private make(op: ScalarOp, args: readonly Scalar[], type: ScalarType): Scalar {
    const key = `${attributeKey(op)}:${type}:${args.map((a) => a.id).join(",")}`
    const hit = this.interned.get(key)
    if (hit) return hit
    const loops = new Set<number>()
    for (const a of args) for (const l of a.loops) loops.add(l)
    if (op.k === "loopVar") loops.add(op.loop)
    if (op.k === "reduce") loops.delete(op.loop)
    const node: Scalar = { id: this.nextId++, op, args, type, loops }
    this.interned.set(key, node)
    return node
  }

  const(value: number, type: ScalarType = "f32"): Scalar {
    // f32 constants keep their float64 value: the WGSL renderer rounds to f32, the float64 oracle must not.
    const v = type === "i32" || type === "u32" ? Math.trunc(value) : type === "bool" ? Number(Boolean(value)) : value
    return this.make({ k: "const", value: v }, [], type)
  }
  int(value: number): Scalar {
    return this.const(value, "i32")
  }
  /** An i32 size named by its role: hash-consed with sizes of the same role only. */
  size(value: number, role: string): Scalar {
    return this.make({ k: "const", value: Math.trunc(value), role }, [], "i32")
  }
  /**
   * A size that no simplification looks into (a convolution's window, stride, padding): a 1×1 and a
   * 3×3 window then give one text, the window a parameter.
   */
  opaque(value: number, role: string): Scalar {
    return this.make({ k: "const", value: Math.trunc(value), role, opaque: true }, [], "i32")
  }
  uniform(slot: number, type: ScalarType): Scalar {
    return this.make({ k: "uniform", slot }, [], type)
  }
  /** A value supplied by surrounding template code (e.g. a tiled matmul's accumulator). */
  external(name: string, type: ScalarType): Scalar {
    return this.make({ k: "external", name }, [], type)
  }
  /** `root` with `target` replaced by `replacement` (rebuilt through this builder, so still hash-consed). */
  substitute(root: Scalar, target: Scalar, replacement: Scalar): Scalar {
    const memo = new Map<number, Scalar>()
    const visit = (s: Scalar): Scalar => {
      if (s === target) return replacement
      const hit = memo.get(s.id)
      if (hit) return hit
      const args = s.args.map(visit)
      const out = args.every((a, i) => a === s.args[i]) ? s : this.make(s.op, args, s.type)
      memo.set(s.id, out)
      return out
    }
    return visit(root)
  }
  gid(): Scalar {
    return this.make({ k: "gid" }, [], "i32")
  }
  /** A fresh loop id (each reduction gets its own, so nested loops never clash). */
  newLoop(): number {
    return this.nextLoop++
  }
  loopVar(loop: number): Scalar {
    return this.make({ k: "loopVar", loop }, [], "i32")
  }
  load(binding: number, index: Scalar, type: ScalarType): Scalar {
    return this.make({ k: "load", binding }, [index], type)
  }
  unary(fn: UnaryOp, a: Scalar, type: ScalarType): Scalar {
    return this.make({ k: "unary", fn }, [a], type)
  }
  binary(fn: BinaryOp | IndexOp, a: Scalar, b: Scalar, type: ScalarType): Scalar {
    return this.make({ k: "binary", fn }, [a, b], type)
  }
  select(cond: Scalar, ifTrue: Scalar, ifFalse: Scalar): Scalar {
    if (isConst(cond)) return constValue(cond) ? ifTrue : ifFalse
    if (ifTrue === ifFalse) return ifTrue
    return this.make({ k: "select" }, [cond, ifTrue, ifFalse], ifTrue.type)
  }
  cast(a: Scalar, type: ScalarType): Scalar {
    if (a.type === type) return a
    if (isConst(a)) return this.const(constValue(a), type)
    return this.make({ k: "cast" }, [a], type)
  }
  random(dist: Distribution, salt: number, index: Scalar): Scalar {
    return this.make({ k: "random", dist, salt }, [index], "f32")
  }
  randomSubstep(dist: Distribution, salt: number, substeps: number, element: Scalar, substep: Scalar): Scalar {
    return this.make({ k: "random", dist, salt, substeps }, [element, substep], "f32")
  }
  reduce(fn: ReduceOp, loop: number, extent: number, body: Scalar): Scalar {
    return this.make({ k: "reduce", fn, loop, extent }, [body], body.type)
  }

  // ---- index arithmetic (i32), simplified eagerly so generated code stays readable ----
  add(a: Scalar, b: Scalar): Scalar {
    if (isConst(a, 0)) return b
    if (isConst(b, 0)) return a
    if (isConst(a) && isConst(b)) return this.int(constValue(a) + constValue(b))
    return this.binary("add", a, b, "i32")
  }
  /** `start + a` kept as an addition even when `start` is 0: a slice's start is a size like any other. */
  offset(start: number, a: Scalar): Scalar {
    return isConst(a) ? this.int(start + constValue(a)) : this.binary("add", this.int(start), a, "i32")
  }
  sub(a: Scalar, b: Scalar): Scalar {
    if (isConst(b, 0)) return a
    if (isConst(a) && isConst(b)) return this.int(constValue(a) - constValue(b))
    return this.binary("sub", a, b, "i32")
  }
  mul(a: Scalar, b: Scalar): Scalar {
    if (isConst(a, 0) || isConst(b, 0)) return this.int(0)
    if (isConst(a, 1)) return b
    if (isConst(b, 1)) return a
    if (isConst(a) && isConst(b)) return this.int(constValue(a) * constValue(b))
    return this.binary("mul", a, b, "i32")
  }
  /** `a / b`; `dividendBound`, when known, is an exclusive upper bound on a non-negative `a`. */
  idiv(a: Scalar, b: number | Scalar, dividendBound?: number, role?: string): Scalar {
    if (typeof b !== "number") return this.indexOp("idiv", a, b, dividendBound)
    if (b === 1) return a
    if (isConst(a)) return this.int(Math.trunc(constValue(a) / b))
    return this.indexOp("idiv", a, role === undefined ? this.int(b) : this.size(b, role), dividendBound)
  }
  /** `a % b`; `dividendBound` as for `idiv`. */
  mod(a: Scalar, b: number | Scalar, dividendBound?: number, role?: string): Scalar {
    if (typeof b !== "number") return this.indexOp("mod", a, b, dividendBound)
    if (b === 1) return this.int(0)
    if (isConst(a)) return this.int(constValue(a) % b)
    return this.indexOp("mod", a, role === undefined ? this.int(b) : this.size(b, role), dividendBound)
  }
  private indexOp(fn: IndexOp, a: Scalar, divisor: Scalar, dividendBound: number | undefined): Scalar {
    const small = dividendBound !== undefined && dividendBound <= SMALL_DIVIDEND
    return this.make(small ? { k: "binary", fn, smallDividend: true } : { k: "binary", fn }, [a, divisor], "i32")
  }
  less(a: Scalar, b: Scalar): Scalar {
    if (isConst(a) && isConst(b)) return this.const(Number(constValue(a) < constValue(b)), "bool")
    return this.binary("lt", a, b, "bool")
  }
  and(a: Scalar, b: Scalar): Scalar {
    if (isConst(a)) return constValue(a) ? b : a
    if (isConst(b)) return constValue(b) ? a : b
    return this.binary("and", a, b, "bool")
  }
}

/** Nodes reachable from `roots`, arguments first; the arguments of nodes in `given` are not visited. */
export const scalarOrder = (roots: readonly Scalar[], given?: ReadonlySet<number>): Scalar[] => {
  const seen = new Set<number>()
  const order: Scalar[] = []
  const visit = (s: Scalar): void => {
    if (seen.has(s.id)) return
    seen.add(s.id)
    if (!given?.has(s.id)) for (const a of s.args) visit(a)
    order.push(s)
  }
  for (const r of roots) visit(r)
  return order
}

/** Innermost loop a node must live in (loops nest in id order), or -1 for the kernel's top level. */
export const placement = (s: Scalar): number => (s.loops.size === 0 ? -1 : Math.max(...s.loops))
