export { vp } from "./vp.ts"
export { subvp } from "./subvp.ts"
export { ve } from "./ve.ts"
