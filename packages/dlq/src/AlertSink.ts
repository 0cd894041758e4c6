/**
 * Where the queue announces new letters. The default sink logs a warning; a
 * user replaces it with their own layer, or with `layerWebhook`, which POSTs
 * each new letter as JSON through `@effect/platform`'s `HttpClient`.
 *
 * The queue delivers alerts from a background fiber through a bounded
 * buffer, so a slow or failing sink never slows or fails `add`; a failed
 * alert is logged.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { AlertFailed } from "./Errors.js"
import { Letter } from "./Letter.js"

/**
 * An alert could not be delivered (declared in `Errors`, named here too).
 *
 * @since 0.1.0
 * @category errors
 */
export { AlertFailed } from "./Errors.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface AlertSinkService {
  /** Announces a new letter (already redacted). */
  readonly alert: (letter: Letter) => Effect.Effect<void, AlertFailed>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class AlertSink extends Context.Tag("@agentos/dlq/AlertSink")<AlertSink, AlertSinkService>() {}

/**
 * The default sink: one warning log line per new letter, with its id, task
 * type, attempts and error.
 *
 * @since 0.1.0
 * @category constructors
 */
export const log: AlertSinkService = {
  alert: (letter) =>
    Effect.logWarning(
      `dead letter ${letter.id}: ${letter.taskType} failed after ${letter.attempts} attempts: ${letter.error.tag}: ${
        letter.error.message.slice(0, 200)
      }`
    ).pipe(Effect.annotateLogs({ letterId: letter.id, taskType: letter.taskType }))
}

/**
 * The default sink as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerLog: Layer.Layer<AlertSink> = Layer.succeed(AlertSink, log)

/**
 * Options of the webhook sink.
 *
 * @since 0.1.0
 * @category models
 */
export interface WebhookOptions {
  readonly url: string
  readonly headers?: Readonly<Record<string, string>>
  /** Per request (default 5 seconds). */
  readonly timeout?: Duration.DurationInput
  /** Retries after a failed request, with exponential backoff from 200 ms (default 2). */
  readonly retries?: number
}

const encodeLetter = Schema.encodeSync(Letter)

/**
 * A sink that POSTs `{ "type": "dead_letter", "letter": … }` to a URL. A
 * response outside 2xx, a network error or a timeout is an `AlertFailed`
 * after the retries.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWebhook = (options: WebhookOptions): Layer.Layer<AlertSink, never, HttpClient.HttpClient> =>
  Layer.effect(
    AlertSink,
    Effect.map(HttpClient.HttpClient, (client): AlertSinkService => {
      const timeout = Duration.decode(options.timeout ?? "5 seconds")
      const retries = Math.max(0, Math.floor(options.retries ?? 2))
      return {
        alert: (letter) =>
          client.execute(
            HttpClientRequest.post(options.url).pipe(
              HttpClientRequest.setHeaders(options.headers ?? {}),
              HttpClientRequest.bodyUnsafeJson({ type: "dead_letter", letter: encodeLetter(letter) })
            )
          ).pipe(
            Effect.flatMap((response) =>
              response.status >= 200 && response.status < 300
                ? Effect.void
                : Effect.fail(`the webhook answered ${response.status}`)
            ),
            Effect.scoped,
            Effect.timeoutFail({ duration: timeout, onTimeout: () => `no answer within ${Duration.format(timeout)}` }),
            Effect.retry(Schedule.intersect(Schedule.exponential("200 millis"), Schedule.recurs(retries))),
            Effect.mapError((error) =>
              new AlertFailed({
                letterId: letter.id,
                message: `webhook ${options.url}: ${typeof error === "string" ? error : error.message}`
              })
            ),
            Effect.withSpan("AlertSink.webhook")
          )
      }
    })
  )
