// The article's bottom layer: the packages' event streams (new dead letters,
// token-budget and spend thresholds, circuits opening, sustained
// backpressure) gathered into one alert stream, logged, kept for `/alerts`
// and, when AGENTOS_ALERT_WEBHOOK is set, POSTed to a webhook with retries;
// a delivery that keeps failing becomes a dead letter.
import { TokenBudget } from "@agentos/budget"
import { DeadLetterQueue } from "@agentos/dlq"
import { Router } from "@agentos/router"
import { Chunk, Context, Effect, Layer, Option, Queue, Ref, Schedule, Stream } from "effect"
import type { AppConfig } from "./Config.js"
import { Team } from "./Team.js"

export interface Alert {
  readonly id: number
  readonly at: number
  readonly source: string
  readonly kind: string
  readonly message: string
}

export class Alerts extends Context.Tag("@agentos/demo/Alerts")<Alerts, {
  readonly list: Effect.Effect<ReadonlyArray<Alert>>
  readonly publish: (source: string, kind: string, message: string) => Effect.Effect<void>
}>() {}

const KEPT = 500
export const WEBHOOK_TASK = "alert-webhook"

const describe = (event: object): string => {
  const { _tag: _, ...rest } = event as Record<string, unknown>
  return JSON.stringify(rest)
}

export const layer = (config: AppConfig) =>
  Layer.scoped(
    Alerts,
    Effect.gen(function*() {
      const dlq = yield* DeadLetterQueue.DeadLetterQueue
      const budget = yield* TokenBudget.TokenBudget
      const router = yield* Router.Router
      const team = yield* Team
      const kept = yield* Ref.make(Chunk.empty<Alert>())
      const outbox = yield* Queue.sliding<Alert>(1_024)
      let id = 0

      const publish = (source: string, kind: string, message: string, deliver = true) =>
        Effect.gen(function*() {
          const at = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
          const alert: Alert = { id: ++id, at, source, kind, message }
          yield* Ref.update(kept, (all) => Chunk.takeRight(Chunk.append(all, alert), KEPT))
          yield* Effect.logWarning(`alert ${source}/${kind}: ${message}`)
          if (deliver && Option.isSome(config.alertWebhook)) yield* Queue.offer(outbox, alert)
        })

      const gather = <A>(stream: Stream.Stream<A>, f: (a: A) => Effect.Effect<void>) =>
        Effect.forkScoped(Stream.runForEach(stream, f))

      yield* gather(dlq.alerts, (letter) =>
        publish(
          "dlq",
          "DeadLetter",
          `${letter.taskType} ${
            letter.workflow?.id ?? letter.taskId ?? letter.id
          }: ${letter.error.tag}: ${letter.error.message}`,
          // A failed webhook delivery's own letter is not delivered to the webhook again.
          letter.taskType !== WEBHOOK_TASK
        ))
      yield* gather(budget.alerts, (alert) => publish("budget", alert._tag, describe(alert)))
      yield* gather(router.alerts, (alert) => publish("router", alert._tag, describe(alert)))
      yield* gather(team.supervisor.events, (event) =>
        event._tag === "CircuitHalfOpen" || event._tag === "CircuitClosed" || event._tag === "TaskDeadLettered"
          ? Effect.void
          : publish("supervisor", event._tag, describe(event)))

      if (Option.isSome(config.alertWebhook)) {
        const url = config.alertWebhook.value
        const post = (alert: Alert) =>
          Effect.tryPromise({
            try: (signal) =>
              fetch(url, {
                method: "POST",
                headers: { "content-type": "application/json" },
                body: JSON.stringify({ type: "alert", alert }),
                signal
              }).then((response) => {
                if (!response.ok) {
                  throw new Error(`the webhook answered ${response.status}`)
                }
              }),
            catch: (error) =>
              error instanceof Error ? error : new Error(String(error))
          }).pipe(Effect.timeout("10 seconds"))
        const deliver = (alert: Alert) =>
          Effect.gen(function*() {
            const first = yield* Effect.clockWith((clock) =>
              clock.currentTimeMillis
            )
            let attempts = 0
            yield* Effect.suspend(() => {
              attempts++
              return post(alert)
            }).pipe(
              Effect.retry(Schedule.intersect(Schedule.exponential(config.alertBackoff), Schedule.recurs(4))),
              Effect.catchAll((error) =>
                Effect.gen(function*() {
                  const last = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
                  yield* dlq.add({
                    taskType: WEBHOOK_TASK,
                    taskId: `alert-${alert.at}-${alert.id}`,
                    source: "demo",
                    attempts,
                    payload: { alert: { ...alert } },
                    error: { tag: "WebhookFailed", message: String(error.message) },
                    firstAttemptAt: first,
                    lastAttemptAt: last
                  }).pipe(Effect.ignoreLogged)
                })
              )
            )
          })
        yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(outbox), deliver)))
      }

      return {
        list: Effect.map(Ref.get(kept), (all) => Chunk.toReadonlyArray(Chunk.reverse(all))),
        publish: (source, kind, message) => publish(source, kind, message)
      }
    })
  )
