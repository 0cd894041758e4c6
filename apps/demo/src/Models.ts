// Model calls of the agent team: every call is routed by @agentos/router
// (the cheapest model that meets the step's complexity, within the agent's
// and the team's spend), reserved before and settled after with the usage
// the provider reported. The provider is a deterministic simulation (seeded
// by the call's idempotency key: the same attempt answers the same), with a
// configurable latency and failure rate, so the service runs offline.
import { type Complexity, TokenCounter, TokenUsage } from "@agentos/core"
import type { Errors as RouterErrors } from "@agentos/router"
import { Router } from "@agentos/router"
import { Chunk, Context, Data, Duration, Effect, Layer, Option, Ref } from "effect"
import { createHash } from "node:crypto"

/** The simulated provider failed this attempt (a 529); a retry may succeed. */
export class ModelUnavailable extends Data.TaggedError("ModelUnavailable")<{
  readonly model: string
  readonly message: string
}> {}

/** The router refused the call: no model fits, or the spend budget is spent. Retrying at once will not help. */
export class ModelRefused extends Data.TaggedError("ModelRefused")<{
  readonly reason: string
  readonly message: string
}> {}

export interface Completion {
  readonly text: string
  readonly model: string
  readonly usage: TokenUsage.TokenUsage
  readonly chargedMicros: number
}

export interface CompleteInput {
  readonly agent: string
  readonly step: string
  readonly prompt: string
  readonly complexity: Complexity.Complexity
  readonly outputTokens: number
  readonly idempotencyKey: string
}

/** A routing decision, kept for `/router/decisions`. */
export interface DecisionRecord {
  readonly at: number
  readonly agent: string
  readonly step: string
  readonly complexity: string
  readonly model: string
  readonly inputTokens: number
  readonly estimatedCostMicros: number
  readonly chargedMicros: number | undefined
  readonly savingMicros: number
  readonly passedOver: number
  readonly outcome: "settled" | "failed"
}

/** Tokens the current supervisor task spent, reported to its budget grant once it ends. */
export class TaskUsage extends Context.Tag("@agentos/demo/TaskUsage")<TaskUsage, {
  readonly report: (usage: TokenUsage.TokenUsage) => Effect.Effect<void>
}>() {}

export class Models extends Context.Tag("@agentos/demo/Models")<Models, {
  readonly complete: (input: CompleteInput) => Effect.Effect<Completion, ModelUnavailable | ModelRefused>
  readonly recent: Effect.Effect<ReadonlyArray<DecisionRecord>>
  readonly calls: Effect.Effect<number>
}>() {}

const RECENT = 100

const unit = (seed: string, salt: string): number =>
  createHash("sha256").update(seed).update(salt).digest().readUInt32BE(0) / 0x1_0000_0000

const refused = (error: RouterErrors.NoEligibleModel | RouterErrors.SpendLimitExceeded | { readonly _tag: string }) =>
  new ModelRefused({ reason: error._tag, message: "message" in error ? String(error.message) : error._tag })

/**
 * The simulated provider's answer to one call attempt: deterministic in the
 * idempotency key (the same attempt answers the same), between half and all
 * of the expected output, never above the cap sent as `max_tokens`.
 */
export const simulate = (input: {
  readonly model: string
  readonly step: string
  readonly prompt: string
  readonly inputTokens: number
  readonly outputTokens: number
  readonly maxOutputTokens: number
  readonly idempotencyKey: string
}): { readonly text: string; readonly usage: TokenUsage.TokenUsage } => {
  const outputTokens = Math.min(
    input.maxOutputTokens,
    Math.max(1, Math.round(input.outputTokens * (0.5 + unit(input.idempotencyKey, "len") / 2)))
  )
  return {
    text: `[${input.model}] ${input.step}: ${input.prompt.split("\n")[0]!.slice(0, 120)}`,
    usage: TokenUsage.make({ inputTokens: input.inputTokens, outputTokens })
  }
}

/** Whether the simulated provider fails this call attempt, at `failureRate`. */
export const simulatedFailure = (idempotencyKey: string, failureRate: number): boolean =>
  unit(idempotencyKey, "fail") < failureRate

/** The simulated provider behind the router, with the team's spend scopes. */
export const layerSimulated = (options: {
  readonly latency: Duration.Duration
  readonly failureRate: number
  readonly teamScope: string
}): Layer.Layer<Models, never, Router.Router> =>
  Layer.effect(
    Models,
    Effect.gen(function*() {
      const router = yield* Router.Router
      const counter = Option.getOrElse(yield* Effect.serviceOption(TokenCounter.TokenCounter), () =>
        TokenCounter.approximate)
      const recent = yield* Ref.make(Chunk.empty<DecisionRecord>())
      const calls = yield* Ref.make(0)
      const remember = (record: DecisionRecord) =>
        Ref.update(recent, (all) =>
          Chunk.takeRight(Chunk.append(all, record), RECENT))

      const complete = (input: CompleteInput) =>
        Effect.gen(function*() {
          const inputTokens = counter.count(input.prompt)
          const result = yield* router.call(
            {
              inputTokens,
              outputTokens: input.outputTokens,
              complexity: input.complexity,
              scopes: [`agent:${input.agent}`, options.teamScope]
            },
            (decision) =>
              Effect.gen(function*() {
                yield* Ref.update(calls, (n) => n + 1)
                if (Duration.toMillis(options.latency) > 0) yield* Effect.sleep(options.latency)
                const model = decision.model.name
                if (simulatedFailure(input.idempotencyKey, options.failureRate)) {
                  return yield* new ModelUnavailable({
                    model,
                    message: `${model} answered 529: overloaded (simulated)`
                  })
                }
                const { text, usage } = simulate({
                  model,
                  step: input.step,
                  prompt: input.prompt,
                  inputTokens,
                  outputTokens: input.outputTokens,
                  maxOutputTokens: decision.maxOutputTokens,
                  idempotencyKey: input.idempotencyKey
                })
                return { value: { text, model, usage }, outcome: { usage } }
              })
          ).pipe(
            Effect.tapError((error) =>
              Effect.flatMap(Effect.clockWith((clock) => clock.currentTimeMillis), (at) =>
                remember({
                  at,
                  agent: input.agent,
                  step: input.step,
                  complexity: input.complexity,
                  model: error._tag === "ModelUnavailable" ? error.model : "-",
                  inputTokens,
                  estimatedCostMicros: 0,
                  chargedMicros: undefined,
                  savingMicros: 0,
                  passedOver: 0,
                  outcome: "failed"
                }))
            ),
            Effect.catchTags({
              NoEligibleModel: (error) => Effect.fail(refused(error)),
              SpendLimitExceeded: (error) => Effect.fail(refused(error)),
              InvalidInput: (error) => Effect.fail(refused(error)),
              ReservationNotFound: (error) => Effect.fail(refused(error)),
              ReservationExpired: (error) => Effect.fail(refused(error)),
              StoreError: (error) => Effect.fail(new ModelRefused({ reason: "StoreError", message: error.message }))
            })
          )
          const at = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
          yield* remember({
            at,
            agent: input.agent,
            step: input.step,
            complexity: input.complexity,
            model: result.decision.model.name,
            inputTokens,
            estimatedCostMicros: result.decision.estimatedCost,
            chargedMicros: result.settlement.charged,
            savingMicros: result.decision.saving,
            passedOver: result.decision.rejected.length,
            outcome: "settled"
          })
          const reporter = yield* Effect.serviceOption(TaskUsage)
          if (Option.isSome(reporter)) yield* reporter.value.report(result.value.usage)
          yield* Effect.annotateCurrentSpan({
            model: result.decision.model.name,
            inputTokens: result.value.usage.inputTokens,
            outputTokens: result.value.usage.outputTokens,
            chargedMicros: result.settlement.charged
          })
          return { ...result.value, chargedMicros: result.settlement.charged }
        }).pipe(
          Effect.withSpan("Models.complete", {
            attributes: { agent: input.agent, step: input.step, complexity: input.complexity }
          })
        )

      return {
        complete,
        recent: Effect.map(Ref.get(recent), (all) => Chunk.toReadonlyArray(Chunk.reverse(all))),
        calls: Ref.get(calls)
      }
    })
  )
