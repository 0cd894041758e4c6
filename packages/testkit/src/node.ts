// The kit outside vitest (benchmarks, scripts): everything but the
// conformance runner, which needs vitest's worker. Under vitest the
// "@agentos/vitest" export condition selects index.ts instead.
export * as Backends from "./Backends.js"
export * as Bench from "./Bench.js"
