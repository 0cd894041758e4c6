// A user's own TokenBudget layer, run through the published conformance
// suite exactly as a user would: imported by package name, registered with
// @agentos/testkit's Conformance. The example layer wraps the memory layer
// and logs each call (at debug level) before passing it on.
import { TokenBudget } from "@agentos/budget"
import * as Testing from "@agentos/budget/Testing"
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
