// The source article's research workflow — gather requirements → search
// sources → synthesize → format — as a checkpointed workflow whose model
// calls go to a deterministic simulated provider with an injectable outage.
import { Workflow } from "@agentos/checkpoint"
import { SharedState } from "@agentos/state"
import { Context, Data, Effect, Layer, Ref, Schema } from "effect"

/** The model provider failed; retrying at once will not help. */
export class ModelOverloaded extends Data.TaggedError("ModelOverloaded")<{ readonly message: string }> {}

/**
 * A deterministic simulated LLM with a small and a large model; `outage`
 * takes the large model (used to synthesize) down.
 */
export class Model extends Context.Tag("@agentos/demo/Model")<Model, {
  readonly complete: (prompt: string) => Effect.Effect<string, ModelOverloaded>
  readonly outage: Ref.Ref<boolean>
  /** How many calls reached the model, by step — to show what ran again. */
  readonly calls: Ref.Ref<Record<string, number>>
}>() {
  static readonly layer = Layer.effect(
    Model,
    Effect.gen(function*() {
      const outage = yield* Ref.make(false)
      const calls = yield* Ref.make<Record<string, number>>({})
      return {
        outage,
        calls,
        complete: (prompt) =>
          Effect.gen(function*() {
            const step = prompt.split(":")[0]!
            yield* Ref.update(calls, (all) => ({ ...all, [step]: (all[step] ?? 0) + 1 }))
            if (step === "synthesize" && (yield* Ref.get(outage))) {
              return yield* new ModelOverloaded({ message: "the large model answered 529: overloaded" })
            }
            return `${step} done for "${prompt.slice(step.length + 1).trim()}"`
          })
      }
    })
  )
}

/** The workflow's state: a Schema, so a checkpoint is validated on resume. */
export const ResearchState = Schema.Struct({
  topic: Schema.String,
  requirements: Schema.optional(Schema.Array(Schema.String)),
  sources: Schema.optional(Schema.Array(Schema.String)),
  synthesis: Schema.optional(Schema.String),
  report: Schema.optional(Schema.String)
})

export const research = Workflow.make({ name: "research", version: 1, state: ResearchState })
  .step({
    name: "gather-requirements",
    run: (state) =>
      Effect.succeed({ requirements: [`scope: ${state.topic}`, "audience: engineers", "length: one page"] })
  })
  .step({
    name: "search-sources",
    run: (state, { idempotencyKey }) =>
      Effect.gen(function*() {
        const model = yield* Model
        const answer = yield* model.complete(`search: ${state.topic}`)
        return { sources: [answer, `request ${idempotencyKey}`] }
      })
  })
  .step({
    name: "synthesize",
    nonRetryable: ["ModelOverloaded"],
    run: (state, { workflowId }) =>
      Effect.gen(function*() {
        const model = yield* Model
        const synthesis = yield* model.complete(`synthesize: ${state.topic} from ${state.sources?.length ?? 0} sources`)
        // Other agents see the team's progress in shared state.
        const shared = yield* SharedState.SharedState
        yield* Effect.orDie(shared.update(`research/${workflowId}`, () => ({ stage: "synthesized", synthesis }), {
          agent: "synthesizer"
        }))
        return { synthesis }
      })
  })
  .step({
    name: "format",
    run: (state) =>
      Effect.succeed({ report: `# ${state.topic}\n\n${state.synthesis}\n\nSources: ${state.sources?.length}` })
  })
