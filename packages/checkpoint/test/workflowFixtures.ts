// The five-step workflow the engine suites and the crash test share.
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Workflow from "../src/Workflow.js"

export class Boom extends Data.TaggedError("Boom")<{ readonly step: string }> {}

export const State = Schema.Struct({ total: Schema.Number, trail: Schema.Array(Schema.String) })
export type State = typeof State.Type

export const names = ["s1", "s2", "s3", "s4", "s5"] as const

export const initial: State = { total: 0, trail: [] }
/** The final state of an uninterrupted run. */
export const expected: State = { total: 15, trail: [...names] }

/** What the steps see and do: a log of runs and the index that should fail (or hang). */
export interface Probe {
  readonly runs: Array<string>
  failAt: number | null
  keys: Array<string>
}

export const probe = (): Probe => ({ runs: [], failAt: null, keys: [] })

/** Five steps; step i adds i + 1 to `total` and appends its name to `trail`. */
export const five = (p: Probe, name = "five") => {
  let workflow: Workflow.Workflow<State, typeof State.Encoded, Boom> = Workflow.make({ name, version: 1, state: State })
  names.forEach((stepName, index) => {
    workflow = workflow.step({
      name: stepName,
      nonRetryable: ["Boom"],
      run: (state, context) =>
        Effect.suspend(() => {
          p.runs.push(stepName)
          p.keys.push(context.idempotencyKey)
          if (p.failAt === index) return Effect.fail(new Boom({ step: stepName }))
          return Effect.succeed({ total: state.total + index + 1, trail: [...state.trail, stepName] })
        })
    })
  })
  return workflow
}
