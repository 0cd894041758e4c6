import { IdGenerator } from "@agentos/core"
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import * as CheckpointStore from "../src/CheckpointStore.js"
import * as Workflow from "../src/Workflow.js"
import * as Workflows from "../src/Workflows.js"
const State = Schema.Struct({ count: Schema.Number })
let wf: any = Workflow.make({ name: "noop", state: State })
for (let i = 1; i <= 10; i++) wf = wf.step({ name: `n${i}`, run: (s: any) => Effect.succeed({ count: s.count + 1 }) })
const file = `/tmp/ckp3-${process.pid}.db`
const rt = ManagedRuntime.make(
  Layer.mergeAll(Workflows.layer(), CheckpointStore.layerSql()).pipe(
    Layer.provideMerge(Layer.merge(CheckpointStore.layerSql(), IdGenerator.layer)),
    Layer.provideMerge(SqliteClient.layer({ filename: file })),
    Layer.provide(Reactivity.layer)
  )
)
let n = 0
const go = async (k: number) => {
  for (let i = 0; i < k; i++) {
    await rt.runPromise(Effect.flatMap(Workflows.Workflows, (w) => w.execute(wf, `x-${++n}`, { count: 0 })))
  }
}
await go(20)
for (let r = 0; r < 4; r++) {
  const t = performance.now()
  await go(50)
  console.log("engine", ((performance.now() - t) * 1000 / 500).toFixed(1), "µs/step")
}
const store = await rt.runPromise(CheckpointStore.CheckpointStore)
const lease = await rt.runPromise(store.acquire("lease-x" as any, "h", 30000))
const cp: any = {
  workflowId: "lease-x",
  name: "noop",
  version: 1,
  status: "running",
  state: { count: 1 },
  completedSteps: ["a"],
  attempts: { a: 1 },
  run: 1,
  createdAt: 0,
  updatedAt: 0,
  epoch: 0
}
for (let r = 0; r < 3; r++) {
  const t = performance.now()
  for (let i = 0; i < 500; i++) await rt.runPromise(store.save(lease, cp))
  console.log("save", ((performance.now() - t) * 1000 / 500).toFixed(1), "µs")
}
const t = performance.now()
await rt.runPromise(Effect.forEach(Array.from({ length: 500 }), () => store.save(lease, cp)))
console.log("save in one fiber", ((performance.now() - t) * 1000 / 500).toFixed(1), "µs")
const t2 = performance.now()
await rt.runPromise(
  Effect.flatMap(SqlClient.SqlClient, (sql) => Effect.forEach(Array.from({ length: 500 }), () => sql`SELECT 1`))
)
console.log("SELECT 1", ((performance.now() - t2) * 1000 / 500).toFixed(1), "µs")
const t3 = performance.now()
await rt.runPromise(
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => Effect.forEach(Array.from({ length: 500 }), () => sql.withTransaction(sql`SELECT 1`))
  )
)
console.log("txn SELECT 1", ((performance.now() - t3) * 1000 / 500).toFixed(1), "µs")
await rt.dispose()
