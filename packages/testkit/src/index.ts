export * as Backends from "./Backends.js"
export * as Bench from "./Bench.js"
export * as Conformance from "./Conformance.js"
