// A user's own TokenBudget layer, run through the published conformance
// suite exactly as a user would: imported by package name, registered with
// @agentos/testkit's Conformance. The example layer wraps the memory layer
// and logs each call (at debug level) before passing it on.
import { Errors, TokenBudget } from "@agentos/budget"
import * as Testing from "@agentos/budget/Testing"
import * as Ids from "@agentos/core/Ids"
import { Conformance } from "@agentos/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"

const logging = (options: TokenBudget.Options): Layer.Layer<TokenBudget.TokenBudget, unknown> =>
  Layer.effect(
    TokenBudget.TokenBudget,
    Effect.map(TokenBudget.TokenBudget, (inner): TokenBudget.TokenBudgetService => {
      const logged = <A, E, R>(method: string, effect: Effect.Effect<A, E, R>) =>
        Effect.zipRight(Effect.logDebug(`TokenBudget.${method}`), effect)
      return {
        ...inner,
        register: (spec) => logged("register", inner.register(spec)),
        remove: (agent) => logged("remove", inner.remove(agent)),
        request: (agent, tokens, requestOptions) => logged("request", inner.request(agent, tokens, requestOptions)),
        reserve: (agent, tokens, reserveOptions) => logged("reserve", inner.reserve(agent, tokens, reserveOptions)),
        commit: (id, actual) => logged("commit", inner.commit(id, actual)),
        release: (id) => logged("release", inner.release(id)),
        agent: (id) => logged("agent", inner.agent(id)),
        dashboard: () => logged("dashboard", inner.dashboard())
      }
    })
  ).pipe(Layer.provide(TokenBudget.layerMemory(options)))

Conformance.conformance("a custom TokenBudget layer (memory, logged)", {
  extra: { logging: Testing.harness(logging) }
}, Testing.suite)

describe("the custom layer", () => {
  it.effect("logs each call before passing it on", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const capture = Logger.make(({ message }) => {
        lines.push(String(Array.isArray(message) ? message.join(" ") : message))
      })
      yield* Effect.gen(function*() {
        const budget = yield* TokenBudget.TokenBudget
        yield* budget.register({ id: "a" })
        yield* budget.request("a", 10)
      }).pipe(
        Effect.provide(logging({ total: 100 })),
        Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
        Logger.withMinimumLogLevel(LogLevel.Debug)
      )
      assert.deepStrictEqual(lines.filter((line) => line.startsWith("TokenBudget.")), [
        "TokenBudget.register",
        "TokenBudget.request"
      ])
    }))
})

describe("the admission policy over a budget whose store fails", () => {
  it.effect("fails with AdmissionUnavailable (not a refusal) and keeps the store's error out of its reason", () =>
    Effect.gen(function*() {
      const inner = yield* TokenBudget.TokenBudget
      yield* inner.register({ id: "a" })
      const down: TokenBudget.TokenBudgetService = {
        ...inner,
        reserve: () =>
          Effect.fail(
            new Errors.StoreError({ operation: "reserve", cause: new Error("connect ECONNREFUSED 10.1.2.3:5432") })
          )
      }
      const policy = yield* TokenBudget.makeAdmissionPolicy(down)
      const error = yield* Effect.flip(
        policy.admit({
          taskId: Ids.TaskId.make("t1"),
          taskType: "search",
          agentId: Ids.AgentId.make("a"),
          estimatedTokens: 5
        })
      )
      assert.strictEqual(error._tag, "AdmissionUnavailable")
      assert.notInclude(error.message, "10.1.2.3")
      assert.strictEqual(error.retryAfterMillis, 1_000)
      // nothing was held
      assert.strictEqual((yield* inner.agent("a")).reserved, 0)
    }).pipe(Effect.provide(TokenBudget.layerMemory({ total: 100 }))))
})
