/** Typed misuse errors of the SDE DSL, each naming the offending value. */

// Option errors are shared with the compiler (src/ cannot import dsl/): defined beside ShapeError.
export { InvalidOption, invalid, checkKeys } from "../src/ir/errors.ts"
