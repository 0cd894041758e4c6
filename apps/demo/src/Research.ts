// The source article's research workflow — gather requirements → search
// sources → synthesize results → format output — as a checkpointed workflow.
// Each step builds its prompt from the agent's memory (`buildContext`), calls
// a model through the router with the step's complexity, and remembers what
// it learnt; the team's progress lives in shared state. The checkpoint engine
// is the one layer that retries a step; a workflow that fails for good
// becomes its dead letter. Each step's run is witnessed for the chaos run
// (src/chaos/Witness.ts): nothing is recorded unless AGENTOS_WITNESS_DIR is set.
import { Workflow } from "@agentos/checkpoint"
import type { Complexity } from "@agentos/core"
import { AgentMemory } from "@agentos/memory"
import { SharedState } from "@agentos/state"
import { Effect, Option, Schedule, Schema } from "effect"
import * as Witness from "./chaos/Witness.js"
import * as Models from "./Models.js"

/** The workflow's state: a Schema, so a checkpoint is validated on resume. */
export const ResearchState = Schema.Struct({
  topic: Schema.String,
  agent: Schema.String,
  requirements: Schema.optional(Schema.String),
  sources: Schema.optional(Schema.String),
  synthesis: Schema.optional(Schema.String),
  report: Schema.optional(Schema.String)
})
export type ResearchState = typeof ResearchState.Type

/** The tokens of memory a step's prompt may carry. */
const CONTEXT_TOKENS = 300

/**
 * What a step remembers of an answer: its first sentence, at most 200
 * characters. A whole answer (100–600 tokens) could never fit a prompt's
 * context, yet every recall would still weigh and token-count it.
 */
export const brief = (text: string): string => {
  const first = /^[^.!?\n]*[.!?]?/.exec(text.trim())?.[0] ?? ""
  return first.length <= 200 ? first : `${first.slice(0, 199)}…`
}

/** A step's model call: its prompt built from memory, how hard it is, how long an answer it expects. */
const ask = (
  state: ResearchState,
  step: string,
  complexity: Complexity.Complexity,
  outputTokens: number,
  question: string
) =>
  Effect.gen(function*() {
    const memory = yield* AgentMemory.AgentMemory
    const context = yield* memory.buildContext({
      agent: state.agent,
      includeTeam: true,
      query: state.topic,
      maxTokens: CONTEXT_TOKENS,
      // A 300-token context holds a handful of these short memories: the best 20 are plenty, and
      // each candidate looked at is token-counted (the default looks at 200).
      candidates: 20
    })
    const answer = yield* Models.complete({
      agent: state.agent,
      step,
      prompt: `${question}\n\n${context.text}`,
      complexity,
      outputTokens
    })
    // Mark what the prompt actually used (recall itself never counts as use).
    if (context.memories.length > 0) yield* Effect.ignore(memory.touch(context.memories.map((m) => m.id)))
    return answer
  })

// The step's own retries: a simulated 529, or a store's failure (a busy SQLite
// file, a dropped connection), is worth retrying; a refusal by the router is not.
const retry = Schedule.intersect(Schedule.exponential("200 millis"), Schedule.recurs(3))
const nonRetryable = ["ModelRefused"]

export const research = Workflow.make({ name: "research", version: 1, state: ResearchState })
  .step({
    name: "gather-requirements",
    retry,
    nonRetryable,
    timeout: "60 seconds",
    run: Witness.step((state: ResearchState) =>
      Effect.map(
        ask(
          state,
          "gather-requirements",
          "simple",
          200,
          `List the requirements of a brief on: ${state.topic}`
        ),
        (answer) => ({ requirements: answer.text })
      )
    )
  })
  .step({
    name: "search-sources",
    retry,
    nonRetryable,
    timeout: "60 seconds",
    run: Witness.step((state: ResearchState) =>
      Effect.gen(function*() {
        const answer = yield* ask(
          state,
          "search-sources",
          "moderate",
          400,
          `Find sources on: ${state.topic}`
        )
        // What was found is a result: it decays fast.
        yield* (yield* AgentMemory.AgentMemory).add({
          text: `sources on ${state.topic}: ${brief(answer.text)}`,
          type: "result",
          agent: state.agent,
          importance: 0.4
        })
        return { sources: answer.text }
      })
    )
  })
  .step({
    name: "synthesize",
    retry,
    nonRetryable,
    timeout: "60 seconds",
    run: Witness.step((state: ResearchState, { workflowId }) =>
      Effect.gen(function*() {
        const answer = yield* ask(
          state,
          "synthesize",
          "complex",
          800,
          `Synthesize the findings on ${state.topic} from: ${state.sources ?? ""}`
        )
        // The rest of the team sees the work in progress in shared state.
        const shared = yield* SharedState.SharedState
        yield* shared.set(`research/${workflowId}`, {
          topic: state.topic,
          stage: "synthesized"
        }, { agent: state.agent })
        return { synthesis: answer.text }
      })
    )
  })
  .step({
    name: "format",
    retry,
    nonRetryable,
    timeout: "60 seconds",
    run: Witness.step((state: ResearchState, { workflowId }) =>
      Effect.gen(function*() {
        const answer = yield* ask(
          state,
          "format",
          "simple",
          300,
          `Format a one-page report on ${state.topic}`
        )
        const report = `# ${state.topic}\n\n${state.synthesis ?? ""}\n\n${answer.text}`
        const memory = yield* AgentMemory.AgentMemory
        // A finished report is a fact the whole team may build on (one per topic: the key supersedes).
        yield* memory.add({
          text: `a report on ${state.topic} exists (workflow ${workflowId})`,
          type: "fact",
          key: `report/${state.topic.toLowerCase().slice(0, 100)}`,
          importance: 0.7
        })
        // The team's counter: a read-modify-write retried on conflict by the state store.
        const shared = yield* SharedState.SharedState
        yield* shared.update("team/progress", (current) => {
          const value = Option.getOrUndefined(Option.map(current, (entry) => entry.value))
          const reports = typeof value?.reports === "number" ? value.reports : 0
          return { reports: reports + 1, last: state.topic }
        }, { agent: state.agent })
        yield* shared.set(`research/${workflowId}`, { topic: state.topic, stage: "reported" }, {
          agent: state.agent
        })
        return { report }
      })
    )
  })
