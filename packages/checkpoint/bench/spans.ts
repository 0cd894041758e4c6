// What the spans of traced methods cost: a ten-step no-op workflow on the
// memory store, with no spans, with the engine's methods traced
// (Effect.fn("WorkflowEngine.execute")…), with the store's methods off the
// hot path traced (the default layers), and with acquireAndCreate and save
// traced too (one span per workflow and one per step). Same process, rounds alternated; the median and the fastest round
// per workflow.
//
//   pnpm --filter @agentos/checkpoint exec tsx --conditions=@agentos/source bench/spans.ts
import { IdGenerator } from "@agentos/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import { CheckpointStore } from "../src/CheckpointStore.js"
import * as MemoryStore from "../src/internal/memoryStore.js"
import * as Service from "../src/internal/service.js"
import * as Tracing from "../src/internal/tracing.js"
import * as Workflow from "../src/Workflow.js"

const STEPS = 10
const WORKFLOWS = 400
const ROUNDS = Number(process.env.ROUNDS ?? 12)

const State = Schema.Struct({ count: Schema.Number })
let workflow: Workflow.Workflow<typeof State.Type, typeof State.Encoded> = Workflow.make({ name: "noop", state: State })
for (let i = 1; i <= STEPS; i++) {
  workflow = workflow.step({ name: `n${i}`, run: (state) => Effect.succeed({ count: state.count + 1 }) })
}

type Traced = "none" | "default" | "all" | "all, no stack"

const storeOf = (traced: Traced) =>
  Layer.effect(
    CheckpointStore,
    Effect.map(MemoryStore.make, (service) => {
      switch (traced) {
        case "none":
          return service
        case "default":
          return Tracing.store(service)
        case "all":
          return Tracing.store(service, [...Tracing.storeMethods, "acquireAndCreate", "save"])
        case "all, no stack":
          return Tracing.store(service, [...Tracing.storeMethods, "acquireAndCreate", "save"], {
            captureStackTrace: false
          })
      }
    })
  )

const variant = (name: string, tracedStore: Traced, tracedEngine: boolean) => {
  const store = storeOf(tracedStore)
  const runtime = ManagedRuntime.make(Layer.merge(store, IdGenerator.layer))
  const engine = runtime.runSync(
    Effect.flatMap(CheckpointStore, (s) => tracedEngine ? Service.make({}, s) : Service.makeUntraced({}, s))
  )
  let sequence = 0
  const round = async () => {
    const start = process.hrtime.bigint()
    for (let i = 0; i < WORKFLOWS; i++) {
      const result = await runtime.runPromise(engine.execute(workflow, `${name}-${++sequence}`, { count: 0 }))
      if (result.count !== STEPS) throw new Error(`${name}: wrong final state`)
    }
    return Number(process.hrtime.bigint() - start) / WORKFLOWS / 1000
  }
  return { name, round, samples: [] as Array<number> }
}

const variants = [
  variant("no spans", "none", false),
  variant("engine methods traced", "none", true),
  variant("+ store methods off the hot path (the default)", "default", true),
  variant("+ acquireAndCreate and save traced too", "all", true),
  variant("+ the same without stack traces", "all, no stack", true)
]

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

for (let r = 0; r < ROUNDS + 2; r++) {
  // Rotate the order each round so no variant always runs first.
  for (let k = 0; k < variants.length; k++) {
    const v = variants[(r + k) % variants.length]!
    const micros = await v.round()
    if (r >= 2) v.samples.push(micros) // two warm-up rounds
  }
}

const base = median(variants[0]!.samples)
for (const v of variants) {
  const m = median(v.samples)
  console.log(
    `${v.name.padEnd(50)} ${m.toFixed(1).padStart(7)} µs/workflow  ${(m / STEPS).toFixed(2).padStart(6)} µs/step  ` +
      `+${(m - base).toFixed(1)} µs  (min ${Math.min(...v.samples).toFixed(1)}, max ${
        Math.max(...v.samples).toFixed(1)
      })`
  )
}
