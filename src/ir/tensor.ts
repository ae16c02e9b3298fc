/**
 * The lazy `Tensor`: every method builds graph nodes; nothing runs until a program is compiled.
 * Broadcasting follows NumPy; shape errors are typed and name both shapes, the op and the call site.
 */
import { comparisonOps, makeNode, type ReduceOp, type BinaryOp, type DType, type Distribution, type Node, type Op, type UnaryOp } from "./node.ts"
import { programError, shapeError } from "./errors.ts"
import { broadcastShapes, checkShape, normalizeAxes, sameShape, sizeOf, type Shape } from "./shape.ts"

export type TensorLike = Tensor | number

export class Tensor {
  constructor(readonly node: Node) {}

  get shape(): Shape {
    return this.node.shape
  }
  get dtype(): DType {
    return this.node.dtype
  }
  get rank(): number {
    return this.node.shape.length
  }
  get size(): number {
    return sizeOf(this.node.shape)
  }

  // ---- elementwise -------------------------------------------------------------------------------
  add(b: TensorLike): Tensor { return binary("add", this, b) }
  sub(b: TensorLike): Tensor { return binary("sub", this, b) }
  mul(b: TensorLike): Tensor { return binary("mul", this, b) }
  div(b: TensorLike): Tensor { return binary("div", this, b) }
  pow(b: TensorLike): Tensor { return binary("pow", this, b) }
  maximum(b: TensorLike): Tensor { return binary("max", this, b) }
  minimum(b: TensorLike): Tensor { return binary("min", this, b) }
  lt(b: TensorLike): Tensor { return binary("lt", this, b) }
  le(b: TensorLike): Tensor { return binary("le", this, b) }
  gt(b: TensorLike): Tensor { return binary("gt", this, b) }
  ge(b: TensorLike): Tensor { return binary("ge", this, b) }
  eq(b: TensorLike): Tensor { return binary("eq", this, b) }
  ne(b: TensorLike): Tensor { return binary("ne", this, b) }
  neg(): Tensor { return unary("neg", this) }
  abs(): Tensor { return unary("abs", this) }
  exp(): Tensor { return unary("exp", this) }
  log(): Tensor { return unary("log", this) }
  log1p(): Tensor { return unary("log1p", this) }
  expm1(): Tensor { return unary("expm1", this) }
  sqrt(): Tensor { return unary("sqrt", this) }
  rsqrt(): Tensor { return unary("rsqrt", this) }
  sin(): Tensor { return unary("sin", this) }
  cos(): Tensor { return unary("cos", this) }
  tanh(): Tensor { return unary("tanh", this) }
  sigmoid(): Tensor { return unary("sigmoid", this) }
  silu(): Tensor { return unary("silu", this) }
  softplus(): Tensor { return unary("softplus", this) }
  erf(): Tensor { return unary("erf", this) }
  square(): Tensor { return unary("square", this) }
  reciprocal(): Tensor { return unary("reciprocal", this) }
  floor(): Tensor { return unary("floor", this) }
  sign(): Tensor { return unary("sign", this) }
  /** Converts to `dtype` (bool → 0/1, float → int truncates). */
  cast(dtype: DType): Tensor {
    return dtype === this.dtype ? this : new Tensor(makeNode({ kind: "cast" }, [this.node], this.shape, dtype))
  }

  // ---- reductions --------------------------------------------------------------------------------
  sum(axes?: number | readonly number[], keepdims = false): Tensor { return reduce("sum", this, axes, keepdims) }
  max(axes?: number | readonly number[], keepdims = false): Tensor { return reduce("max", this, axes, keepdims) }
  min(axes?: number | readonly number[], keepdims = false): Tensor { return reduce("max", this.neg(), axes, keepdims).neg() }
  mean(axes?: number | readonly number[], keepdims = false): Tensor {
    const ax = normalizeAxes("mean", axes, this.rank)
    const count = ax.reduce((n, a) => n * this.shape[a]!, 1)
    return this.sum(ax, keepdims).div(count)
  }
  /** Population variance over `axes`. */
  variance(axes?: number | readonly number[], keepdims = false): Tensor {
    const centred = this.sub(this.mean(axes, true))
    return centred.square().mean(axes, keepdims)
  }
  /** log Σ exp in one stable pass. */
  logsumexp(axes?: number | readonly number[], keepdims = false): Tensor { return reduce("logsumexp", this, axes, keepdims) }
  /** exp(x − logsumexp x): two kernels (the reduction, then the elementwise epilogue). */
  softmax(axis = -1): Tensor { return this.sub(this.logsumexp(axis, true)).exp() }

  // ---- movement (views) --------------------------------------------------------------------------
  reshape(shape: readonly number[]): Tensor {
    const resolved = resolveReshape(this.shape, shape)
    if (sameShape(resolved, this.shape)) return this
    return new Tensor(makeNode({ kind: "reshape" }, [this.node], resolved, this.dtype))
  }
  flatten(): Tensor { return this.reshape([this.size]) }
  permute(perm: readonly number[]): Tensor {
    const p = perm.map((a) => (a < 0 ? a + this.rank : a))
    if (p.length !== this.rank || [...p].sort((a, b) => a - b).some((a, i) => a !== i))
      throw shapeError("permute", [this.shape, perm], `[${perm.join(", ")}] is not a permutation of the axes`)
    if (p.every((a, i) => a === i)) return this
    return new Tensor(makeNode({ kind: "permute", perm: p }, [this.node], p.map((a) => this.shape[a]!), this.dtype))
  }
  /** Swaps two axes (default: the last two). */
  transpose(a = -2, b = -1): Tensor {
    const perm = Array.from({ length: this.rank }, (_, i) => i)
    const [i, j] = [a < 0 ? a + this.rank : a, b < 0 ? b + this.rank : b]
    ;[perm[i], perm[j]] = [perm[j]!, perm[i]!]
    return this.permute(perm)
  }
  /** Broadcasts to `shape` by NumPy rules (a view: no copy). */
  broadcastTo(shape: readonly number[]): Tensor {
    if (sameShape(shape, this.shape)) return this
    const target = broadcastShapes("broadcastTo", this.shape, shape)
    if (!sameShape(target, shape)) throw shapeError("broadcastTo", [this.shape, shape], "cannot broadcast")
    const lifted = this.reshape([...new Array<number>(shape.length - this.rank).fill(1), ...this.shape])
    return new Tensor(makeNode({ kind: "expand" }, [lifted.node], shape, this.dtype))
  }
  /** `starts`/`ends` per axis (undefined = whole axis), positive `steps`. */
  slice(starts: readonly number[], ends?: readonly (number | undefined)[], steps?: readonly number[]): Tensor {
    const st = this.shape.map((d, i) => clampIndex(starts[i] ?? 0, d))
    const en = this.shape.map((d, i) => clampIndex(ends?.[i] ?? d, d))
    const sp = this.shape.map((_, i) => steps?.[i] ?? 1)
    if (sp.some((s) => !Number.isInteger(s) || s < 1)) throw shapeError("slice", [this.shape], `steps must be positive integers, got [${sp.join(", ")}]`)
    const shape = st.map((s, i) => Math.max(0, Math.ceil((en[i]! - s) / sp[i]!)))
    if (sameShape(shape, this.shape)) return this
    return new Tensor(makeNode({ kind: "slice", starts: st, steps: sp }, [this.node], shape, this.dtype))
  }
  /** Pads each axis with `[before, after]` elements of `value`. */
  pad(widths: readonly (readonly [number, number])[], value = 0): Tensor {
    if (widths.length !== this.rank || widths.flat().some((w) => !Number.isInteger(w) || w < 0))
      throw shapeError("pad", [this.shape], `needs one non-negative [before, after] per axis, got ${JSON.stringify(widths)}`)
    if (widths.every(([a, b]) => a === 0 && b === 0)) return this
    const shape = this.shape.map((d, i) => d + widths[i]![0] + widths[i]![1])
    return new Tensor(makeNode({ kind: "pad", before: widths.map((w) => w[0]), value }, [this.node], shape, this.dtype))
  }
  flip(axes: number | readonly number[]): Tensor {
    const ax = normalizeAxes("flip", axes, this.rank)
    return new Tensor(makeNode({ kind: "flip", axes: ax }, [this.node], this.shape, this.dtype))
  }

  // ---- contractions ------------------------------------------------------------------------------
  /** Batched matrix product [..., M, K] @ [..., K, N] → [..., M, N]; 1-D operands as in NumPy. */
  matmul(b: Tensor): Tensor { return matmul(this, b) }
}

// ---- constructors ------------------------------------------------------------------------------

/** A scalar constant (broadcast wherever it is used). */
export const constant = (value: number, dtype: DType = "f32"): Tensor => {
  if (!Number.isFinite(value)) throw programError("constant", `non-finite constant ${value}`)
  return new Tensor(makeNode({ kind: "const", value }, [], [], dtype))
}

export const full = (shape: readonly number[], value: number): Tensor => constant(value).broadcastTo(shape)
export const zeros = (shape: readonly number[]): Tensor => full(shape, 0)
export const ones = (shape: readonly number[]): Tensor => full(shape, 1)

/**
 * A constant tensor baked into the program (uploaded once when the executable is built): lookup
 * tables such as tabulated integrals of a time expression.
 */
export const tensorData = (values: ArrayLike<number>, shape: readonly number[] = [values.length]): Tensor => {
  checkShape("tensorData", shape)
  if (sizeOf(shape) !== values.length) throw shapeError("tensorData", [shape, [values.length]], "values do not fill the shape")
  const data = Float32Array.from(values)
  if (!data.every(Number.isFinite)) throw programError("tensorData", "non-finite value in constant data")
  return new Tensor(makeNode({ kind: "data", values: data }, [], shape, "f32"))
}

/** `table[indices]` for a 1-D table: the result has the shape of `indices` (clamped into range). */
export const gather = (table: Tensor, indices: Tensor): Tensor => {
  if (table.rank !== 1) throw shapeError("gather", [table.shape, indices.shape], "the table must be 1-D")
  const clamped = indices.maximum(0).minimum(table.shape[0]! - 1).cast("i32")
  return new Tensor(makeNode({ kind: "gather" }, [table.node, clamped.node], indices.shape, table.dtype))
}

/** A program input: data or parameters (any shape) or a scalar uniform (shape []). */
export const input = (name: string, shape: readonly number[], dtype: DType = "f32"): Tensor => {
  checkShape(`input ${name}`, shape)
  return new Tensor(makeNode({ kind: "input", name }, [], shape, dtype))
}

const toTensor = (x: TensorLike): Tensor => (typeof x === "number" ? constant(x) : x)

const unaryResultType = (fn: UnaryOp, dtype: DType): DType => (fn === "not" ? "bool" : fn === "neg" || fn === "abs" || fn === "sign" ? dtype : "f32")

export const unary = (fn: UnaryOp, x: Tensor): Tensor => {
  // Float-valued ops read f32 (WGSL's exp, sqrt, … have no integer overloads); neg/abs/sign keep an
  // integer type; `not` reads bool.
  const input = fn === "not" ? x.cast("bool") : x.dtype === "bool" || unaryResultType(fn, x.dtype) === "f32" ? x.cast("f32") : x
  return new Tensor(makeNode({ kind: "unary", fn }, [input.node], x.shape, unaryResultType(fn, input.dtype)))
}

const promote = (a: DType, b: DType): DType => (a === b ? a : a === "f32" || b === "f32" ? "f32" : a === "bool" ? b : b === "bool" ? a : "i32")

export const binary = (fn: BinaryOp, a: TensorLike, b: TensorLike): Tensor => {
  let [x, y] = [toTensor(a), toTensor(b)]
  const shape = broadcastShapes(fn, x.shape, y.shape)
  const logical = fn === "and" || fn === "or"
  // pow is float-valued (WGSL has no integer pow); comparisons of bools compare 0/1 floats.
  const common: DType = logical ? "bool" : fn === "pow" || promote(x.dtype, y.dtype) === "bool" ? "f32" : promote(x.dtype, y.dtype)
  x = x.cast(common).broadcastTo(shape)
  y = y.cast(common).broadcastTo(shape)
  const dtype: DType = comparisonOps.has(fn) || logical ? "bool" : common
  return new Tensor(makeNode({ kind: "binary", fn }, [x.node, y.node], shape, dtype))
}

/** Elementwise `cond ? a : b` with broadcasting. */
export const where = (cond: Tensor, a: TensorLike, b: TensorLike): Tensor => {
  const [x, y] = [toTensor(a), toTensor(b)]
  const shape = broadcastShapes("where", cond.shape, x.shape, y.shape)
  const dtype = promote(x.dtype, y.dtype)
  const inputs = [cond.cast("bool"), x.cast(dtype), y.cast(dtype)].map((t) => t.broadcastTo(shape).node)
  return new Tensor(makeNode({ kind: "where" }, inputs, shape, dtype))
}

const reduceShape = (shape: Shape, axes: readonly number[], keepdims: boolean): number[] =>
  keepdims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i))

export const reduce = (fn: ReduceOp, x: Tensor, axes: number | readonly number[] | undefined, keepdims: boolean): Tensor => {
  const ax = normalizeAxes(fn, axes, x.rank).filter((a) => x.shape[a] !== 1 || fn !== "max")
  // logsumexp is float-valued whatever it reads (its accumulators are f32).
  const source = x.dtype === "bool" || (fn === "logsumexp" && x.dtype !== "f32") ? x.cast("f32") : x
  const kept = ax.length === 0 ? source : new Tensor(makeNode({ kind: "reduce", fn, axes: ax }, [source.node], reduceShape(x.shape, ax, true), source.dtype))
  return keepdims ? kept : kept.reshape(reduceShape(x.shape, normalizeAxes(fn, axes, x.rank), false))
}

/** Parts one concat node joins (WebGPU guarantees 8 storage buffers per stage: 4 leaves room). */
const maxConcatParts = 4

/** Joins tensors along `axis`; all other dimensions must agree. */
export const concat = (tensors: readonly Tensor[], axis = 0): Tensor => {
  if (tensors.length === 0) throw programError("concat", "needs at least one tensor")
  const first = tensors[0]!
  const ax = normalizeAxes("concat", axis, first.rank)[0]!
  for (const t of tensors)
    if (t.rank !== first.rank || t.shape.some((d, i) => i !== ax && d !== first.shape[i]))
      throw shapeError("concat", tensors.map((u) => u.shape), `all dimensions except axis ${ax} must match`)
  if (tensors.length === 1) return first
  // A kernel binds every part of a concat it computes: past a few parts, nest two halves so the
  // schedule can materialise one half when a kernel would exceed the storage-buffer limit.
  if (tensors.length > maxConcatParts) {
    const half = Math.ceil(tensors.length / 2)
    return concat([concat(tensors.slice(0, half), ax), concat(tensors.slice(half), ax)], ax)
  }
  const shape = first.shape.map((d, i) => (i === ax ? tensors.reduce((n, t) => n + t.shape[ax]!, 0) : d))
  return new Tensor(makeNode({ kind: "concat", axis: ax }, tensors.map((t) => t.node), shape, first.dtype))
}

/**
 * Salt streams. A draw's salt is (its stream, its position among that stream's draws in this trace), so
 * re-tracing a program gives its noise the same keys, and a named stream's draws never share a key with
 * another stream's draws, whichever programs they are traced in. Unnamed draws share stream 0: two
 * programs run with the same seed and step draw the same unnamed noise. A call site whose noise must stay
 * independent of other programs' names its stream here (one table, so no two streams can collide).
 */
export const saltStreams = { unnamed: 0, hutchinsonProbe: 1, dequantise: 2, flip: 3 } as const
export type SaltStream = keyof typeof saltStreams
/** Salts per stream: stream s owns [s·2²⁴, (s + 1)·2²⁴), which keeps every salt a positive i32. */
const saltsPerStream = 1 << 24

let drawsInStream = new Map<SaltStream, number>()
/** Restarts every stream's numbering, so re-tracing a program gives its noise the same keys. */
export const resetSalts = (): void => {
  drawsInStream = new Map()
}

const nextSalt = (op: string, stream: SaltStream): number => {
  if (!Object.hasOwn(saltStreams, stream)) throw programError(op, `unknown salt stream "${stream}" (streams: ${Object.keys(saltStreams).join(", ")})`)
  const position = drawsInStream.get(stream) ?? 0
  if (position >= saltsPerStream) throw programError(op, `more than ${saltsPerStream} draws from the "${stream}" salt stream in one program`)
  drawsInStream.set(stream, position + 1)
  return saltStreams[stream] * saltsPerStream + position
}

export interface RandomOptions {
  /** The salt stream the draw takes its salt from (default "unnamed"). */
  readonly stream?: SaltStream
  /**
   * B sub-steps along the leading axis (of length B): element (i, e) is keyed as if drawn at step
   * step·B + i, index e. A step of size H drawing B = H/h sub-steps sees the same fine-grid noise as
   * B steps of size h — Brownian paths that stay the same when the step size changes.
   */
  readonly substeps?: number
}

/**
 * Random numbers keyed by (seed, salt, step, element index): generated inside the consuming kernel,
 * reproducible on every backend. The salt (see `saltStreams`) tells apart the random nodes of a program.
 */
export const random = (shape: readonly number[], dist: Distribution, options: RandomOptions = {}): Tensor => {
  checkShape(`random.${dist}`, shape)
  const substeps = options.substeps
  if (substeps !== undefined && !(Number.isInteger(substeps) && substeps >= 1 && shape[0] === substeps))
    throw shapeError(`random.${dist}`, [shape], `substeps = ${substeps} needs a leading axis of that length`)
  const op: Op = { kind: "random", dist, salt: nextSalt(`random.${dist}`, options.stream ?? "unnamed"), ...(substeps !== undefined && substeps > 1 ? { substeps } : {}) }
  return new Tensor(makeNode(op, [], shape, "f32"))
}
export const normal = (shape: readonly number[], options?: RandomOptions) => random(shape, "normal", options)
export const uniform = (shape: readonly number[], options?: RandomOptions) => random(shape, "uniform", options)
export const rademacher = (shape: readonly number[], options?: RandomOptions) => random(shape, "rademacher", options)

/** The value of `x` with no gradient flowing through it (an identity view that autodiff stops at). */
export const stopGradient = (x: Tensor): Tensor => new Tensor(makeNode({ kind: "detach" }, [x.node], x.shape, x.dtype))

export const matmul = (a: Tensor, b: Tensor): Tensor => {
  if (a.rank === 0 || b.rank === 0) throw shapeError("matmul", [a.shape, b.shape], "operands must have at least one dimension")
  const x = a.rank === 1 ? a.reshape([1, a.shape[0]!]) : a
  const y = b.rank === 1 ? b.reshape([b.shape[0]!, 1]) : b
  const [m, k] = x.shape.slice(-2) as [number, number]
  const [k2, n] = y.shape.slice(-2) as [number, number]
  if (k !== k2) throw shapeError("matmul", [a.shape, b.shape], `inner dimensions differ (${k} vs ${k2})`)
  const batch = broadcastShapes("matmul (batch dimensions)", x.shape.slice(0, -2), y.shape.slice(0, -2))
  const xb = x.broadcastTo([...batch, m, k])
  const yb = y.broadcastTo([...batch, k, n])
  const out = new Tensor(makeNode({ kind: "matmul" }, [xb.node, yb.node], [...batch, m, n], "f32"))
  const shape = [...batch, ...(a.rank === 1 ? [] : [m]), ...(b.rank === 1 ? [] : [n])]
  return out.reshape(shape)
}

/** NCHW convolution: x [N, C, H, W], w [O, C, kh, kw] → [N, O, Ho, Wo]. */
export const conv2d = (x: Tensor, w: Tensor, options: { stride?: number; padding?: number } = {}): Tensor => {
  const stride = options.stride ?? 1
  const padding = options.padding ?? 0
  if (x.rank !== 4 || w.rank !== 4) throw shapeError("conv2d", [x.shape, w.shape], "expects x [N, C, H, W] and w [O, C, kh, kw]")
  const [n, c, h, wd] = x.shape as [number, number, number, number]
  const [o, c2, kh, kw] = w.shape as [number, number, number, number]
  if (c !== c2) throw shapeError("conv2d", [x.shape, w.shape], `input channels differ (${c} vs ${c2})`)
  const ho = Math.floor((h + 2 * padding - kh) / stride) + 1
  const wo = Math.floor((wd + 2 * padding - kw) / stride) + 1
  if (ho < 1 || wo < 1) throw shapeError("conv2d", [x.shape, w.shape], "kernel larger than the padded input")
  return new Tensor(makeNode({ kind: "conv2d", stride, padding }, [x.node, w.node], [n, o, ho, wo], "f32"))
}

const clampIndex = (i: number, d: number): number => Math.min(Math.max(i < 0 ? i + d : i, 0), d)

const resolveReshape = (from: Shape, to: readonly number[]): number[] => {
  const total = sizeOf(from)
  const known = to.filter((d) => d !== -1)
  const free = to.length - known.length
  const knownSize = sizeOf(known)
  if (free > 1 || known.some((d) => !Number.isInteger(d) || d < 0)) throw shapeError("reshape", [from, to], "invalid target shape")
  const resolved = to.map((d) => (d === -1 ? (knownSize === 0 ? 0 : total / knownSize) : d))
  if (sizeOf(resolved) !== total || resolved.some((d) => !Number.isInteger(d)))
    throw shapeError("reshape", [from, to], `cannot reshape ${total} elements`)
  return resolved
}

/** conv2d's output shape for x [N, C, H, W] and w [O, C, kh, kw]; undefined if the channels differ. */
const convOutputShape = (x: Shape, w: Shape, stride: number, padding: number): number[] | undefined =>
  x.length === 4 && w.length === 4 && x[1] === w[1]
    ? [x[0]!, w[0]!, Math.floor((x[2]! + 2 * padding - w[2]!) / stride) + 1, Math.floor((x[3]! + 2 * padding - w[3]!) / stride) + 1]
    : undefined

/** Gradient of conv2d w.r.t. its input: g [N, O, Ho, Wo], w [O, C, kh, kw] → [N, C, H, W]. */
export const conv2dGradInput = (g: Tensor, w: Tensor, inputShape: Shape, stride: number, padding: number): Tensor => {
  // Checked because a mismatched g would otherwise be read with the wrong strides, silently.
  const expected = convOutputShape(inputShape, w.shape, stride, padding)
  if (!expected || !sameShape(g.shape, expected))
    throw shapeError("conv2dGradInput", [g.shape, w.shape, inputShape], `g must have conv2d's output shape [${expected?.join(", ") ?? "?"}]`)
  return new Tensor(makeNode({ kind: "conv2dGradInput", stride, padding }, [g.node, w.node], inputShape, "f32"))
}

/** Gradient of conv2d w.r.t. its weight: x [N, C, H, W], g [N, O, Ho, Wo] → [O, C, kh, kw]. */
export const conv2dGradWeight = (x: Tensor, g: Tensor, weightShape: Shape, stride: number, padding: number): Tensor => {
  const expected = convOutputShape(x.shape, weightShape, stride, padding)
  if (!expected || !sameShape(g.shape, expected))
    throw shapeError("conv2dGradWeight", [x.shape, g.shape, weightShape], `g must have conv2d's output shape [${expected?.join(", ") ?? "?"}]`)
  return new Tensor(makeNode({ kind: "conv2dGradWeight", stride, padding }, [x.node, g.node], weightShape, "f32"))
}
