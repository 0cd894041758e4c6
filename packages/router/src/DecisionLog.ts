/**
 * The routed model's decision log: recent calls, each with every attempt
 * (the model routed to, the reasons every other model was passed over, the
 * reservation, how it ended, what it was charged), newest first. For the
 * service and the dashboard; kept in memory, bounded.
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { Rejection } from "./Errors.js"

/**
 * One attempt of a call: a routing decision and what came of it.
 *
 * - `outcome`: `succeeded`; `failed` (the provider's error; `retryable`
 *   when a fallback may follow); `interrupted`; `no-model` (nothing could
 *   take the call, `rejected` says why); `refused` (the ledger refused the
 *   reservation, `error` says why);
 * - `charged`, `estimated`: the settlement, when there was one.
 *
 * @since 0.2.0
 * @category models
 */
export interface Attempt {
  readonly attempt: number
  readonly model: string | undefined
  readonly provider: string | undefined
  readonly rejected: ReadonlyArray<Rejection>
  readonly reservation: string | undefined
  readonly reserved: number
  readonly outcome: "succeeded" | "failed" | "interrupted" | "no-model" | "refused"
  readonly error?: string | undefined
  readonly status?: number | undefined
  readonly retryable?: boolean | undefined
  readonly retryAfterMillis?: number | undefined
  readonly charged?: number | undefined
  readonly estimated?: boolean | undefined
  readonly startedAt: number
  readonly endedAt: number
}

/**
 * A routed call and its attempts, in order.
 *
 * @since 0.2.0
 * @category models
 */
export interface Entry {
  readonly id: number
  readonly method: "generateText" | "generateObject" | "streamText"
  readonly scopes: ReadonlyArray<string>
  readonly at: number
  readonly outcome: "succeeded" | "failed" | "interrupted"
  readonly attempts: ReadonlyArray<Attempt>
}

/**
 * What to read: at most `limit` entries (default 100), optionally only
 * those with an attempt on `model`, or with this `outcome`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Query {
  readonly limit?: number
  readonly model?: string
  readonly outcome?: Entry["outcome"]
}

/**
 * @since 0.2.0
 * @category models
 */
export interface DecisionLogService {
  /** The most recent entries, newest first. */
  readonly recent: (query?: Query) => Effect.Effect<ReadonlyArray<Entry>>
}

/**
 * @since 0.2.0
 * @category tags
 */
export class DecisionLog extends Context.Tag("@agentos/router/DecisionLog")<DecisionLog, DecisionLogService>() {}
