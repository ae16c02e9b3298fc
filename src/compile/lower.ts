/**
 * Lowers one kernel — a materialised graph node plus everything fused into it — to a scalar DAG
 * computing the element at the thread's index. Movement ops become index arithmetic; reductions and
 * contractions become loops; materialised inputs become loads.
 */
import type { Node, ReduceOp } from "../ir/node.ts"
import { sizeOf, stridesOf, type Shape } from "../ir/shape.ts"
import { ScalarBuilder, type Scalar } from "./scalar.ts"

/** Where a value outside the kernel comes from: a storage binding or a uniform slot. */
export type Source = { readonly kind: "binding"; readonly binding: number } | { readonly kind: "uniform"; readonly slot: number }

export interface LoweredKernel {
  /** One value per root, all at the thread's flat index. */
  readonly values: readonly Scalar[]
  /** Graph nodes computed inside this kernel (for `explain`). */
  readonly fused: readonly Node[]
  /** Contractions computed in this kernel: the reduce node holding each one's value. */
  readonly contractions: readonly Contraction[]
}

/**
 * A contraction seen as C[row, col] = Σ_k A[row, k]·B[k, col]: element loaders written over the
 * externals `row`, `col` and `k`, and where C[row, col] lands in the output (`out`, over row and col).
 * Convolutions become implicit GEMMs this way (no im2col buffer).
 */
export interface GemmView {
  readonly m: number
  readonly n: number
  readonly k: number
  readonly a: Scalar
  readonly b: Scalar
  readonly out: Scalar
  /** Every 4-aligned group of 4 columns lands at 4 consecutive, 4-aligned output elements (vec4 stores). */
  readonly vecColumns: boolean
}

export interface Contraction {
  readonly node: Node
  readonly value: Scalar
  readonly gemm?: GemmView
}

/**
 * Lowers the roots of one kernel (several for a sibling group, all of one size) given how each other
 * materialised node is read. A root read by another root is used in-register, not re-loaded.
 * `isRead` says, without allotting a binding as `sourceOf` does, whether a node comes from outside.
 */
export const lowerKernel = (
  b: ScalarBuilder,
  roots: readonly Node[],
  sourceOf: (node: Node) => Source | undefined,
  isRead: (node: Node) => boolean = () => false,
): LoweredKernel => {
  const rootIds = new Set(roots.map((r) => r.id))
  const memo = new Map<string, Scalar>()
  const fused = new Map<number, Node>()
  const contractions: Contraction[] = []
  const contraction = (node: Node, value: Scalar): Scalar => {
    contractions.push({ node, value })
    return value
  }

  /**
   * Sizes of index arithmetic are named by shape and axis, so two that are equal only by value (a group
   * norm's group and channel strides when there is one channel per group) are not merged: kernels of
   * one form then share their index expressions the same way whatever their sizes.
   */
  const role = (shape: Shape, axis: number, what: string) => `${shape.join("x")}@${axis}:${what}`

  // Flat indices already known for a multi-index (from delinearising), so linearising it back is free.
  const knownFlat = new Map<string, Scalar>()
  const flatKey = (idx: readonly Scalar[], shape: Shape) => `${shape.join("x")}:${idx.map((s) => s.id).join(",")}`
  const linearize = (idx: readonly Scalar[], shape: Shape): Scalar => {
    const known = knownFlat.get(flatKey(idx, shape))
    if (known) return known
    // Trailing axes that came from one flat index (a reduction over the last axes, say) are that index.
    for (let k = 1; k < idx.length; k++) {
      const trailing = knownFlat.get(flatKey(idx.slice(k), shape.slice(k)))
      if (trailing) return b.add(b.mul(linearize(idx.slice(0, k), shape.slice(0, k)), b.size(sizeOf(shape.slice(k)), role(shape, k, "trailing"))), trailing)
    }
    const strides = stridesOf(shape)
    return idx.reduce((acc, i, k) => b.add(acc, b.mul(i, shape[k] === 1 ? b.int(0) : b.size(strides[k]!, role(shape, k, "stride")))), b.int(0))
  }
  const delinearize = (flat: Scalar, shape: Shape): Scalar[] => {
    const strides = stridesOf(shape)
    // The leading axis needs no modulo: the flat index is in range.
    const size = sizeOf(shape)
    const idx = shape.map((d, k) => {
      if (d === 1) return b.int(0)
      const quotient = b.idiv(flat, strides[k]!, size, role(shape, k, "stride"))
      return k === 0 ? quotient : b.mod(quotient, d, size, role(shape, k, "size"))
    })
    knownFlat.set(flatKey(idx, shape), flat)
    // Each run of trailing axes is the flat index modulo its size (used by `linearize`).
    for (let k = 1; k < shape.length; k++) knownFlat.set(flatKey(idx.slice(k), shape.slice(k)), b.mod(flat, sizeOf(shape.slice(k)), size, role(shape, k, "trailing")))
    return idx
  }
  /** `lo ≤ i < hi` for an i32 index. */
  const within = (i: Scalar, hi: number): Scalar => b.and(b.less(b.int(-1), i), b.less(i, b.int(hi)))

  /** A loop over the product of `extents`, returning the reduce node built from the per-index body. */
  const loop = (fn: ReduceOp, extents: readonly number[], body: (idx: Scalar[]) => Scalar): Scalar => {
    const id = b.newLoop()
    const total = extents.reduce((a, c) => a * c, 1)
    return b.reduce(fn, id, total, body(delinearize(b.loopVar(id), extents)))
  }

  const emit = (node: Node, idx: readonly Scalar[]): Scalar => {
    const key = `${node.id}:${idx.map((s) => s.id).join(",")}`
    let value = memo.get(key)
    if (!value) {
      value = compute(node, idx)
      memo.set(key, value)
    }
    return value
  }

  const compute = (node: Node, idx: readonly Scalar[]): Scalar => {
    if (!rootIds.has(node.id)) {
      const source = sourceOf(node)
      if (source?.kind === "binding") return b.load(source.binding, linearize(idx, node.shape), node.dtype)
      if (source?.kind === "uniform") return b.uniform(source.slot, node.dtype)
    }
    fused.set(node.id, node)
    const op = node.op
    const [x, y] = node.inputs
    switch (op.kind) {
      case "input":
        throw new Error(`input ${op.name} has no binding`)
      case "const":
        return b.const(op.value, node.dtype)
      case "data":
        throw new Error("constant data is always bound as a buffer")
      case "gather":
        return emit(x!, [emit(y!, idx)])
      case "unary":
        return b.unary(op.fn, emit(x!, idx), node.dtype)
      case "binary": {
        // a + b and a·b with a read operand first, whichever side the graph put it on: a residual added
        // before or after a bias then gives one text (and kernels share a form).
        const [p, q] = (op.fn === "add" || op.fn === "mul") && !isRead(x!) && isRead(y!) ? [y!, x!] : [x!, y!]
        return b.binary(op.fn, emit(p, idx), emit(q, idx), node.dtype)
      }
      case "where":
        return b.select(emit(x!, idx), emit(y!, idx), emit(node.inputs[2]!, idx))
      case "cast":
        return b.cast(emit(x!, idx), node.dtype)
      case "random": {
        if (!op.substeps) return b.random(op.dist, op.salt, linearize(idx, node.shape))
        const [substep, ...element] = idx
        return b.randomSubstep(op.dist, op.salt, op.substeps, linearize(element, node.shape.slice(1)), substep!)
      }
      case "detach":
        return emit(x!, idx)
      case "reshape":
        return emit(x!, delinearize(linearize(idx, node.shape), x!.shape))
      case "permute": {
        const inner = new Array<Scalar>(idx.length)
        op.perm.forEach((p, i) => (inner[p] = idx[i]!))
        return emit(x!, inner)
      }
      case "expand":
        return emit(x!, idx.map((i, k) => (x!.shape[k] === 1 ? b.int(0) : i)))
      case "slice":
        // A start on a cut axis stays an addition even at 0, so a slice's form does not depend on where it starts.
        return emit(x!, idx.map((i, k) => (node.shape[k] === x!.shape[k] ? b.add(b.int(op.starts[k]!), b.mul(i, b.int(op.steps[k]!))) : b.offset(op.starts[k]!, b.mul(i, b.int(op.steps[k]!))))))
      case "flip":
        return emit(x!, idx.map((i, k) => (op.axes.includes(k) ? b.sub(b.int(node.shape[k]! - 1), i) : i)))
      case "pad": {
        const inner = idx.map((i, k) => b.sub(i, b.int(op.before[k]!)))
        const inside = inner.reduce((c, i, k) => (op.before[k] === 0 && x!.shape[k] === node.shape[k] ? c : b.and(c, within(i, x!.shape[k]!))), b.const(1, "bool"))
        return b.select(inside, emit(x!, inner), b.const(op.value, node.dtype))
      }
      case "concat": {
        // Nested selects from the last part backwards: part j owns [offset_j, offset_j + len_j).
        const offsets: number[] = []
        node.inputs.reduce((o, n) => (offsets.push(o), o + n.shape[op.axis]!), 0)
        const at = idx[op.axis]!
        let value: Scalar | undefined
        for (let j = node.inputs.length - 1; j >= 0; j--) {
          const part = node.inputs[j]!
          const shifted = idx.map((i, k) => (k === op.axis ? b.sub(i, b.int(offsets[j]!)) : i))
          const here = emit(part, shifted)
          value = value === undefined ? here : b.select(b.less(at, b.int(offsets[j + 1]!)), here, value)
        }
        return value!
      }
      case "reduce": {
        const flat = bufferReduction(node, op.fn, op.axes, x!, idx)
        if (flat) return flat
        return loop(op.fn, op.axes.map((a) => x!.shape[a]!), (r) => {
          const inner = [...idx]
          op.axes.forEach((a, k) => (inner[a] = r[k]!))
          return emit(x!, inner)
        })
      }
      case "matmul": {
        const batch = idx.slice(0, -2)
        const [m, n] = idx.slice(-2) as [Scalar, Scalar]
        return contraction(node, loop("sum", [x!.shape.at(-1)!], ([k]) => b.binary("mul", emit(x!, [...batch, m, k!]), emit(y!, [...batch, k!, n]), "f32")))
      }
      case "conv2d": {
        const [n, o, oy, ox] = idx as [Scalar, Scalar, Scalar, Scalar]
        const [, c, h, w] = x!.shape as [number, number, number, number]
        const [, , kh, kw] = y!.shape as [number, number, number, number]
        return contraction(node, loop("sum", [c, kh, kw], ([ci, ky, kx]) => {
          const iy = b.sub(b.add(b.mul(oy, b.int(op.stride)), ky!), b.int(op.padding))
          const ix = b.sub(b.add(b.mul(ox, b.int(op.stride)), kx!), b.int(op.padding))
          const product = b.binary("mul", emit(x!, [n, ci!, iy, ix]), emit(y!, [o, ci!, ky!, kx!]), "f32")
          return b.select(b.and(within(iy, h), within(ix, w)), product, b.const(0))
        }))
      }
      case "conv2dGradInput": {
        const [n, c, ih, iw] = idx as [Scalar, Scalar, Scalar, Scalar]
        const [, o, ho, wo] = x!.shape as [number, number, number, number]
        const [, , kh, kw] = y!.shape as [number, number, number, number]
        const s = op.stride
        return contraction(node, loop("sum", [o, kh, kw], ([oi, ky, kx]) => {
          const ty = b.sub(b.add(ih, b.int(op.padding)), ky!)
          const tx = b.sub(b.add(iw, b.int(op.padding)), kx!)
          const [gy, gx] = [b.idiv(ty, s), b.idiv(tx, s)]
          let ok = b.and(within(ty, ho * s), within(tx, wo * s))
          if (s > 1) ok = b.and(ok, b.and(b.binary("eq", b.mod(ty, s), b.int(0), "bool"), b.binary("eq", b.mod(tx, s), b.int(0), "bool")))
          const product = b.binary("mul", emit(x!, [n, oi!, gy, gx]), emit(y!, [oi!, c, ky!, kx!]), "f32")
          return b.select(ok, product, b.const(0))
        }))
      }
      case "conv2dGradWeight": {
        const [o, c, ky, kx] = idx as [Scalar, Scalar, Scalar, Scalar]
        const [, , h, w] = x!.shape as [number, number, number, number]
        const [bn, , ho, wo] = y!.shape as [number, number, number, number]
        return contraction(node, loop("sum", [bn, ho, wo], ([ni, oy, ox]) => {
          const iy = b.sub(b.add(b.mul(oy!, b.int(op.stride)), ky), b.int(op.padding))
          const ix = b.sub(b.add(b.mul(ox!, b.int(op.stride)), kx), b.int(op.padding))
          const product = b.binary("mul", emit(y!, [ni!, o, oy!, ox!]), emit(x!, [ni!, c, iy, ix]), "f32")
          return b.select(b.and(within(iy, h), within(ix, w)), product, b.const(0))
        }))
      }
    }
  }

  /**
   * A reduction of a buffer (read directly or through reshapes) over leading and trailing axes around
   * its kept ones: the buffer seen as [A, K, B], summed over A and B by two loops at (a·K + k)·B + b.
   * Whether A or B is 1, or how many axes each spans, the text is the same (the sizes opaque): a bias
   * gradient (over batch and pixels), a dense bias gradient (batch only) and a group mean (pixels only)
   * share a form, and no loop counter is divided into digits. Undefined for any other reduction.
   */
  const bufferReduction = (node: Node, fn: ReduceOp, axes: readonly number[], x: Node, idx: readonly Scalar[]): Scalar | undefined => {
    let source = x
    while ((source.op.kind === "reshape" || source.op.kind === "detach") && !isRead(source)) source = source.inputs[0]!
    if (!isRead(source)) return undefined
    const kept = x.shape.flatMap((_, k) => (axes.includes(k) ? [] : [k]))
    const [first, last] = kept.length === 0 ? [x.shape.length, x.shape.length - 1] : [kept[0]!, kept.at(-1)!]
    if (kept.length !== last - first + 1) return undefined
    const extent = (from: number, to: number) => sizeOf(x.shape.slice(from, to))
    const [outer, inner] = [b.newLoop(), b.newLoop()]
    // The kept index is the output's flat index (reduced axes are 1 there).
    const k = linearize(idx, node.shape)
    const row = b.add(b.mul(b.loopVar(outer), b.opaque(extent(first, last + 1), "kept")), k)
    const at = b.add(b.mul(row, b.opaque(extent(last + 1, x.shape.length), "trailing")), b.loopVar(inner))
    const value = emit(source, delinearize(at, source.shape))
    return b.reduce(fn, outer, extent(0, first), b.reduce(fn, inner, extent(last + 1, x.shape.length), value))
  }

  /** A flat index over (channel, window row, window column), split by the window's sizes as opaque values. */
  const windowDigits = (flat: Scalar, [c, kh, kw]: readonly [number, number, number]): Scalar[] => {
    const bound = c * kh * kw
    const width = b.opaque(kw, "window width")
    const digits = [b.idiv(flat, b.opaque(kh * kw, "window area"), bound), b.mod(b.idiv(flat, width, bound), b.opaque(kh, "window height"), bound), b.mod(flat, width, bound)]
    knownFlat.set(flatKey(digits, [c, kh, kw]), flat)
    return digits
  }

  /** The implicit-GEMM view of a convolution node (all three conv primitives). */
  const convGemm = (node: Node): GemmView | undefined => {
    const op = node.op
    if (op.kind !== "conv2d" && op.kind !== "conv2dGradInput" && op.kind !== "conv2dGradWeight") return undefined
    const [x, y] = node.inputs as [Node, Node]
    const [row, col, k] = [b.external("row", "i32"), b.external("col", "i32"), b.external("k", "i32")]
    const { stride: s, padding: p } = op
    // Forward and weight-gradient loaders see the window, stride and padding as opaque sizes: 1×1 and
    // 3×3, stride 1 and 2 then share a form. (The input gradient keeps its stride specialised: with a
    // stride of 2 it tests divisibility of possibly negative offsets, a cost stride 1 should not pay.)
    // (i·stride − padding) + offset: the first part depends on one GEMM index only, so it is computed
    // once per column or per k, not per (k, column) pair.
    const windowAt = (i: Scalar, offset: Scalar) => b.add(b.sub(b.mul(i, b.opaque(s, "stride")), b.opaque(p, "padding")), offset)
    if (op.kind === "conv2d") {
      const [n, c, h, w] = x.shape as [number, number, number, number]
      const [o, , kh, kw] = y.shape as [number, number, number, number]
      const [, , ho, wo] = node.shape as [number, number, number, number]
      const [ni, oy, ox] = delinearize(col, [n, ho, wo])
      const [ci, ky, kx] = windowDigits(k, [c, kh, kw])
      // The weight as the [o, c·kh·kw] matrix it is: its element (row, k) is at row·K + k, not at a
      // re-linearisation of k's three digits.
      knownFlat.set(flatKey([row, ci!, ky!, kx!], y.shape), b.add(b.mul(row, b.int(c * kh * kw)), k))
      const [iy, ix] = [windowAt(oy!, ky!), windowAt(ox!, kx!)]
      return {
        m: o, n: n * ho * wo, k: c * kh * kw,
        a: emit(y, [row, ci!, ky!, kx!]),
        b: b.select(b.and(within(iy, h), within(ix, w)), emit(x, [ni!, ci!, iy, ix]), b.const(0)),
        out: linearize([ni!, row, oy!, ox!], node.shape),
        vecColumns: wo % 4 === 0,
      }
    }
    if (op.kind === "conv2dGradInput") {
      const [n, c, h, w] = node.shape as [number, number, number, number]
      const [, o, ho, wo] = x.shape as [number, number, number, number]
      const [, , kh, kw] = y.shape as [number, number, number, number]
      const [ni, ih, iw] = delinearize(col, [n, h, w])
      const [oi, ky, kx] = delinearize(k, [o, kh, kw])
      const ty = b.sub(b.add(ih!, b.int(p)), ky!)
      const tx = b.sub(b.add(iw!, b.int(p)), kx!)
      let ok = b.and(within(ty, ho * s), within(tx, wo * s))
      if (s > 1) ok = b.and(ok, b.and(b.binary("eq", b.mod(ty, s), b.int(0), "bool"), b.binary("eq", b.mod(tx, s), b.int(0), "bool")))
      return {
        m: c, n: n * h * w, k: o * kh * kw,
        a: emit(y, [oi!, row, ky!, kx!]),
        b: b.select(ok, emit(x, [ni!, oi!, b.idiv(ty, s), b.idiv(tx, s)]), b.const(0)),
        out: linearize([ni!, row, ih!, iw!], node.shape),
        vecColumns: w % 4 === 0,
      }
    }
    const [, c, h, w] = x.shape as [number, number, number, number]
    const [n, o, ho, wo] = y.shape as [number, number, number, number]
    const [, , kh, kw] = node.shape as [number, number, number, number]
    const [ni, oy, ox] = delinearize(k, [n, ho, wo])
    const [ci, ky, kx] = windowDigits(col, [c, kh, kw])
    knownFlat.set(flatKey([row, ci!, ky!, kx!], node.shape), b.add(b.mul(row, b.int(c * kh * kw)), col))
    const [iy, ix] = [windowAt(oy!, ky!), windowAt(ox!, kx!)]
    return {
      m: o, n: c * kh * kw, k: n * ho * wo,
      a: emit(y, [ni!, row, oy!, ox!]),
      b: b.select(b.and(within(iy, h), within(ix, w)), emit(x, [ni!, ci!, iy, ix]), b.const(0)),
      out: linearize([row, ci!, ky!, kx!], node.shape),
      vecColumns: (c * kh * kw) % 4 === 0,
    }
  }

  const values = roots.map((root) => emit(root, delinearize(b.gid(), root.shape)))
  // Convolution reduces were registered while emitting; attach their GEMM views now.
  const withViews = contractions.map((c) => (c.node.op.kind === "matmul" ? c : { ...c, gemm: convGemm(c.node)! }))
  return { values, fused: [...fused.values()], contractions: withViews }
}
