// The research workflow wired across the packages: checkpoints, shared state
// and dead letters on one embedded SQLite file. A provider outage fails the
// workflow at "synthesize"; the failure becomes a dead letter; once the
// provider is back, replaying the letter resumes the workflow at the failed
// step, and the steps before it do not run again.
import { CheckpointStore, WorkflowEngine } from "@agentos/checkpoint"
import { IdGenerator, Ids } from "@agentos/core"
import { DeadLetterQueue } from "@agentos/dlq"
import { SharedState } from "@agentos/state"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Console, Effect, Layer, Option, Ref } from "effect"
import { Model, research } from "./Research.js"

export const program = Effect.gen(function*() {
  const workflows = yield* WorkflowEngine.WorkflowEngine
  const dlq = yield* DeadLetterQueue.DeadLetterQueue
  const model = yield* Model
  const id = yield* IdGenerator.make(Ids.WorkflowId)

  yield* Console.log(`1. run workflow ${id} while the large model is overloaded`)
  yield* Ref.set(model.outage, true)
  const failure = yield* Effect.flip(workflows.execute(research, id, { topic: "agent runtimes in production" }))
  yield* Console.log(`   failed: ${failure._tag}${"step" in failure ? ` at step "${failure.step}"` : ""}`)

  const page = yield* dlq.list({ resolved: false })
  const letter = page.letters.find((letter) => letter.workflow?.id === id)!
  yield* Console.log(`2. dead letter ${letter.id}: ${letter.error.tag} — ${letter.error.message}`)

  yield* Console.log("3. the model is back: replay the letter, which resumes the workflow at the failed step")
  yield* Ref.set(model.outage, false)
  const replayed = yield* dlq.replay(letter.id, (_payload, letter) => workflows.resumeFromLetter([research], letter))

  const status = yield* workflows.status(id)
  const shared = yield* (yield* SharedState.SharedState).get(`research/${id}`)
  const calls = yield* Ref.get(model.calls)
  yield* Console.log(
    `   replay: ${replayed._tag}; workflow: ${status.status}; model calls by step: ${JSON.stringify(calls)}`
  )
  yield* Console.log(
    `   shared state research/${id}: ${JSON.stringify(Option.getOrNull(Option.map(shared, (entry) => entry.value)))}`
  )
  yield* Console.log(`4. report:\n${(status.state as { report?: string }).report}`)
  return { id, letterId: letter.id, failure, replayed, status, calls, shared }
})

/** Everything on one SQLite file: the single-process default. */
export const layer = (filename: string) => {
  const sql = SqliteClient.layer({ filename })
  const stores = Layer.mergeAll(
    CheckpointStore.layerSql(),
    DeadLetterQueue.layerSql(),
    SharedState.layerSql()
  ).pipe(Layer.provide(sql))
  const engine = WorkflowEngine.layer().pipe(
    Layer.provide(DeadLetterQueue.layerPort),
    Layer.provideMerge(Layer.merge(stores, IdGenerator.layer))
  )
  return Layer.mergeAll(engine, Model.layer)
}
