import * as AdmissionPolicy from "@agentos/core/AdmissionPolicy"
import * as Ids from "@agentos/core/Ids"
import * as Money from "@agentos/core/Money"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as Errors from "../src/Errors.js"
import * as SpendAdmission from "../src/SpendAdmission.js"
import * as SpendLedger from "../src/SpendLedger.js"

const ledger = SpendLedger.layerMemory({
  budgets: [
    { scope: "agent:alice", limit: 1_000, period: { unit: "day" } },
    { scope: "team:research", limit: 5_000, period: { unit: "month" } }
  ],
  sweepInterval: 0
})
const layer = SpendAdmission.layer({ teamOf: () => "team:research" }).pipe(Layer.provideMerge(ledger))
const task = (agent: string) => ({
  taskId: Ids.TaskId.make(`task-${agent}`),
  taskType: "research",
  agentId: Ids.AgentId.make(agent)
})

describe("SpendAdmission", () => {
  it.effect("admits while the agent's and team's scopes have money; refuses with the scope and the reset", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.parse("2026-12-06T18:00:00Z"))
      const policy = yield* AdmissionPolicy.AdmissionPolicy
      const spend = yield* SpendLedger.SpendLedger
      const grant = yield* policy.admit(task("alice"))
      yield* policy.commit(grant.id, {
        inputTokens: 1,
        outputTokens: 1,
        cachedInputTokens: 0,
        reasoningTokens: 0,
        source: "reported"
      })
      const r = yield* spend.reserve({
        scopes: ["agent:alice"],
        model: "m",
        amount: Money.micros(1_000),
        inputTokens: 1,
        maxOutputTokens: 1
      })
      yield* spend.settle(r.id, { charged: Money.micros(1_000) })
      const refused = yield* Effect.either(policy.admit(task("alice")))
      assert.isTrue(Either.isLeft(refused))
      if (Either.isLeft(refused)) {
        assert.strictEqual(refused.left._tag, "AdmissionRejected")
        assert.strictEqual(refused.left._tag === "AdmissionRejected" ? refused.left.scope : undefined, "agent:alice")
        assert.strictEqual(refused.left.retryAfterMillis, 6 * 3_600_000)
      }
      // Bob's own scope has no budget; the team still has money.
      yield* policy.admit(task("bob"))
      // A new day: alice is admitted again.
      yield* TestClock.adjust("6 hours")
      yield* policy.admit(task("alice"))
    }).pipe(Effect.provide(layer)))
})

describe("SpendAdmission over a ledger whose store fails", () => {
  it.effect("fails with AdmissionUnavailable (not a refusal) and keeps the store's error out of its reason", () =>
    Effect.gen(function*() {
      const inner = yield* SpendLedger.SpendLedger
      const down: SpendLedger.SpendLedgerService = {
        ...inner,
        status: () =>
          Effect.fail(
            new Errors.StoreError({ operation: "status", cause: new Error("connect ECONNREFUSED 10.1.2.3:5432") })
          )
      }
      const policy = SpendAdmission.make(down, { teamOf: () => "team:research" })
      const error = yield* Effect.flip(policy.admit(task("alice")))
      assert.strictEqual(error._tag, "AdmissionUnavailable")
      assert.notInclude(error.message, "10.1.2.3")
      assert.strictEqual(error.retryAfterMillis, 1_000)
    }).pipe(Effect.provide(ledger)))
})
