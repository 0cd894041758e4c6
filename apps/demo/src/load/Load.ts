// The load generator (`pnpm demo:load`): N concurrent agents submit research
// tasks to a running service over its HTTP API, for a time or a count, each
// agent sending its next task when the last was answered, waiting out a 429's
// (or a 503's) Retry-After and backing off when a request gets no answer (100
// ms, doubling, at most 5 s), as a well-behaved client does. Then it waits for the
// accepted work to finish (bounded) and reports what the client saw —
// throughput, latency percentiles, 429s — beside what the service says it
// did over the same span: its own request counters, the money the router
// charged, the tasks its workers ended and the dead letters it recorded.
import { HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { Clock, Data, Duration, Effect, Option, Schema } from "effect"
import * as Api from "../Api.js"

export class LoadError extends Data.TaggedError("LoadError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

export const LoadOptions = Schema.Struct({
  /** The service's base URL, e.g. `http://127.0.0.1:3000`. */
  url: Schema.String.pipe(Schema.pattern(/^https?:\/\/[^/]+/)),
  token: Schema.optional(Schema.String.pipe(Schema.minLength(1))),
  /** Concurrent agents, each with one request in flight at most. */
  agents: Schema.Int.pipe(Schema.between(1, 10_000)),
  /** Stop submitting after this long… */
  durationMillis: Schema.optional(Schema.Int.pipe(Schema.positive())),
  /** …or after this many submissions, whichever comes first. */
  count: Schema.optional(Schema.Int.pipe(Schema.positive())),
  /** How long to wait, after the last submission, for accepted work to finish. */
  drainMillis: Schema.Int.pipe(Schema.nonNegative()),
  /** The task's priority (0 runs first). */
  priority: Schema.optional(Schema.Int.pipe(Schema.between(0, 9)))
}).pipe(
  Schema.filter((o) => o.durationMillis !== undefined || o.count !== undefined || "give a duration, a count, or both")
)
export type LoadOptions = typeof LoadOptions.Type

export interface Progress {
  readonly elapsedMillis: number
  readonly sent: number
  readonly accepted: number
  readonly rejected: number
  readonly errors: number
  /** 0–1 of the run: time or count, whichever is nearer its end. */
  readonly fraction: number
}

export interface Percentiles {
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
}

/** What a run saw, client side and service side. */
export interface Report {
  readonly url: string
  readonly agents: number
  readonly startedAt: string
  readonly durationSeconds: number
  /** Submissions answered: 202, 429, other statuses, and requests that got no answer. */
  readonly requests: {
    readonly sent: number
    readonly accepted: number
    readonly rejected429: number
    readonly otherStatus: Readonly<Record<string, number>>
    readonly failed: number
  }
  /** Accepted submissions per second of the submitting phase. */
  readonly acceptedPerSecond: number
  readonly requestsPerSecond: number
  /** Milliseconds from sending a submission to its answer, every answered one. */
  readonly latencyMillis: Percentiles
  readonly drain: { readonly drained: boolean; readonly seconds: number }
  /** What the service's own counters moved by over the run and the drain. */
  readonly service: {
    readonly accepted: number
    readonly rejected429: number
    readonly tasksEnded: number
    readonly taskErrors: number
    readonly spentMicros: number
    readonly deadLetters: number
  }
}

/** Nearest-rank percentiles of `values` (sorted in place); 0 for none. */
export const percentiles = (values: Array<number>): Percentiles => {
  if (values.length === 0) return { p50: 0, p90: 0, p99: 0, max: 0 }
  values.sort((a, b) => a - b)
  const at = (p: number) => values[Math.max(0, Math.ceil(p * values.length) - 1)]!
  const round = (n: number) => Math.round(n * 1000) / 1000
  return { p50: round(at(0.5)), p90: round(at(0.9)), p99: round(at(0.99)), max: round(values[values.length - 1]!) }
}

interface Counters {
  readonly accepted: number
  readonly rejected: number
  readonly tasksEnded: number
  readonly taskErrors: number
  readonly spentMicros: number
  readonly deadLetters: number
}

// A counter of the service's own Prometheus text, summed over its series
// whose labels include every one of `labels`.
const metric = (text: string, name: string, labels: ReadonlyArray<string>) => {
  let sum = 0
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue
    const close = line.indexOf("}")
    const series = line.slice(name.length + 1, close)
    if (labels.every((label) => series.split(",").includes(label))) sum += Number(line.slice(close + 1).trim())
  }
  return sum
}

/** Runs the load described by `raw` (checked first) against a running service. */
export const run = (
  raw: unknown,
  onProgress?: (progress: Progress) => void
): Effect.Effect<Report, LoadError, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const options = yield* Schema.decodeUnknown(LoadOptions)(raw).pipe(
      Effect.mapError((error) => new LoadError({ message: `invalid options: ${error.message}` }))
    )
    const base = options.url.replace(/\/+$/, "")
    const plain = yield* HttpClient.HttpClient
    const client = options.token === undefined
      ? plain
      : HttpClient.mapRequest(plain, HttpClientRequest.bearerToken(options.token))

    // The service's own figures, through the typed client of its contract (`Api.ts`). Submissions
    // go out as plain requests: the run counts every status and reads `Retry-After` from 429s.
    const api = yield* HttpApiClient.make(Api.Api, {
      baseUrl: base,
      transformClient: (http) =>
        options.token === undefined ? http : HttpClient.mapRequest(http, HttpClientRequest.bearerToken(options.token))
    })
    const read = <A, E>(path: string, effect: Effect.Effect<A, E>) =>
      Effect.mapError(effect, (cause) =>
        new LoadError({ message: `GET ${base}${path} failed: ${describe(cause)}`, cause }))
    const snapshot = read("/supervisor", api.supervisor.snapshot())
    const metricsText = read("/metrics", api.metrics())
    const counters: Effect.Effect<Counters, LoadError> = Effect.map(
      Effect.all([
        metricsText,
        snapshot,
        read("/router/report", api.router.report()),
        read("/dead-letters/summary", api.deadLetters.summary())
      ], { concurrency: 4 }),
      ([text, supervisor, router, letters]) => ({
        accepted: metric(text, "agentos_demo_http_requests_total", ["method=\"POST\"", "status=\"202\""]),
        rejected: metric(text, "agentos_demo_http_requests_total", ["method=\"POST\"", "status=\"429\""]),
        tasksEnded: supervisor.workers.reduce((n, w) =>
          n + w.completed + w.errors, 0),
        taskErrors: supervisor.workers.reduce((n, w) => n + w.errors, 0),
        spentMicros: router.scopes.reduce((n, s) => (s.scope.startsWith("team:") ? n + s.spent : n), 0),
        deadLetters: letters.total
      })
    )

    const before = yield* counters
    const started = yield* Clock.currentTimeMillis
    const deadline = options.durationMillis === undefined ? Infinity : started + options.durationMillis
    const limit = options.count ?? Infinity
    const latencies: Array<number> = []
    const otherStatus: Record<string, number> = {}
    let claimed = 0
    let sent = 0
    let accepted = 0
    let rejected = 0
    let failed = 0
    const body = HttpClientRequest.bodyUnsafeJson({
      type: "research",
      payload: { topic: "load: agent runtimes under pressure" },
      ...(options.priority === undefined ? {} : { priority: options.priority })
    })
    const submit = HttpClientRequest.post(`${base}/tasks`).pipe(body)

    // Come back when the service said (a 429's or 503's Retry-After), but not past the end of the run.
    const pause = (millis: number) =>
      Effect.flatMap(
        Clock.currentTimeMillis,
        (now) => Effect.sleep(Duration.millis(Math.max(0, Math.min(millis, deadline - now))))
      )
    const agent = Effect.gen(function*() {
      // Requests in a row that got no answer: the next waits `unreachableDelay` of them.
      let unanswered = 0
      while (true) {
        const now = yield* Clock.currentTimeMillis
        if (now >= deadline || claimed >= limit) return
        claimed++
        const t0 = performance.now()
        const answer = yield* client.execute(submit).pipe(
          Effect.map((response) => ({ status: response.status, retryAfter: response.headers["retry-after"] })),
          Effect.scoped,
          Effect.timeout(Duration.seconds(30)),
          Effect.option
        )
        sent++
        if (Option.isNone(answer)) {
          // No answer (the service is down or unreachable): back off before the next try.
          failed++
          yield* pause(unreachableDelay(++unanswered))
          continue
        }
        unanswered = 0
        latencies.push(performance.now() - t0)
        const { retryAfter, status } = answer.value
        if (status === 202) accepted++
        else if (status === 429) {
          rejected++
          yield* pause(retryAfterMillis(retryAfter))
        } else {
          otherStatus[String(status)] = (otherStatus[String(status)] ?? 0) + 1
          // 503: the service is starting or draining; it says when to come back.
          if (status === 503) yield* pause(retryAfterMillis(retryAfter))
        }
      }
    })

    const progress = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const byTime = options.durationMillis === undefined ? 0 : (now - started) / options.durationMillis
      const byCount = options.count === undefined ? 0 : sent / options.count
      onProgress?.({
        elapsedMillis: now - started,
        sent,
        accepted,
        rejected,
        errors: failed + Object.values(otherStatus).reduce((a, b) => a + b, 0),
        fraction: Math.min(1, Math.max(byTime, byCount))
      })
    })
    const ticker = onProgress === undefined
      ? Effect.void
      : Effect.forever(Effect.zipRight(Effect.sleep(Duration.millis(250)), progress))

    yield* Effect.raceFirst(
      Effect.forEach(Array.from({ length: options.agents }), () => agent, { concurrency: "unbounded", discard: true }),
      Effect.zipRight(ticker, Effect.never)
    )
    yield* progress
    const submitted = yield* Clock.currentTimeMillis

    // Wait for the accepted work to end: nothing queued, nothing running.
    const idle = Effect.map(
      snapshot,
      (s) => s.running === 0 && Object.values(s.queueDepth).every((n) => n === 0)
    )
    let drained = yield* idle
    while (!drained && (yield* Clock.currentTimeMillis) - submitted < options.drainMillis) {
      yield* Effect.sleep(Duration.millis(200))
      drained = yield* idle
    }
    const ended = yield* Clock.currentTimeMillis
    const after = yield* counters
    const seconds = Math.max(1, submitted - started) / 1000
    const round = (n: number) => Math.round(n * 100) / 100
    return {
      url: base,
      agents: options.agents,
      startedAt: new Date(started).toISOString(),
      durationSeconds: round(seconds),
      requests: { sent, accepted, rejected429: rejected, otherStatus, failed },
      acceptedPerSecond: round(accepted / seconds),
      requestsPerSecond: round(sent / seconds),
      latencyMillis: percentiles(latencies),
      drain: { drained, seconds: round((ended - submitted) / 1000) },
      service: {
        accepted: after.accepted - before.accepted,
        rejected429: after.rejected - before.rejected,
        tasksEnded: after.tasksEnded - before.tasksEnded,
        taskErrors: after.taskErrors - before.taskErrors,
        spentMicros: after.spentMicros - before.spentMicros,
        deadLetters: after.deadLetters - before.deadLetters
      }
    } satisfies Report
  })

/** A `Retry-After` header in seconds as milliseconds; one second when absent or unreadable. */
export const retryAfterMillis = (header: string | undefined): number => {
  const seconds = Number(header)
  return header !== undefined && header.trim() !== "" && Number.isFinite(seconds) && seconds > 0
    ? seconds * 1000
    : 1000
}

/**
 * The pause after the `n`th request in a row that got no answer: 100 ms,
 * doubling, at most 5 s — a client of a service that is down does not spin.
 */
export const unreachableDelay = (n: number): number => Math.min(5_000, 100 * 2 ** Math.max(0, Math.min(n - 1, 16)))

const describe = (cause: unknown): string =>
  typeof cause === "object" && cause !== null && "message" in cause && typeof cause.message === "string"
    ? cause.message
    : String(cause)
