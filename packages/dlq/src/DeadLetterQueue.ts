/**
 * The dead letter queue: failed tasks are kept with everything needed to
 * understand and replay them, replayed safely (one replay of a letter at a
 * time, with an optional payload patch), resolved, purged and summarised;
 * new letters are announced on a `Stream` and to an `AlertSink`.
 *
 * Backends: `layerMemory`, `layerFileSystem` (one process; a lock file guards
 * the directory) and `layerSql` (SQLite or Postgres, many processes). Every
 * layer uses the `IdGenerator` and the `AlertSink` of its context when given,
 * else the default ULID generator and the logging sink.
 *
 * @since 0.1.0
 */
import * as DeadLetters from "@agentos/core/DeadLetters"
import type { JsonValue } from "@agentos/core/Json"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type {
  AlreadyResolved,
  ClaimLost,
  DirectoryLocked,
  InvalidInput,
  InvalidOptions,
  LetterNotFound,
  PayloadTooLarge,
  QueueFull,
  ReplayInProgress,
  ReplayManyStopped,
  StoreError
} from "./Errors.js"
import { makeFileStore } from "./internal/fileStore.js"
import { makeMemoryStore } from "./internal/memoryStore.js"
import * as internalOptions from "./internal/options.js"
import * as port from "./internal/port.js"
import * as internal from "./internal/service.js"
import { makeSqlStore } from "./internal/sqlStore.js"
import type { Added, AddInput, Letter, ListFilter, Page, ReplayManyReport, ReplayResult, Summary } from "./Letter.js"
import type { Redact } from "./Redaction.js"

/**
 * Options of every layer.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Largest payload in UTF-8 JSON bytes, after redaction (default 262144, SQS's limit). */
  readonly maxPayloadBytes?: number
  /**
   * Most letters kept (resolved or not). When full, `add` fails with
   * `QueueFull` and nothing is evicted; a duplicate is still recognised.
   * Unlimited by default.
   */
  readonly maxLetters?: number
  /** How long a replay's claim holds before another replayer may take the letter (default 5 minutes). */
  readonly claimTimeout?: Duration.DurationInput
  /** Applied to payloads and contexts before anything is persisted or alerted. */
  readonly redact?: Redact
  /** Alerts buffered for the sink and for each `alerts` subscriber (default 1024). */
  readonly alertBuffer?: number
}

/**
 * Options of `replay`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReplayOptions {
  /**
   * Patches the payload before the handler runs (it gets a copy). The patched
   * payload is redacted, checked against the size limit, and stored with the
   * replay's outcome, so a later replay starts from the fix.
   */
  readonly modify?: (payload: JsonValue) => JsonValue
}

/**
 * Options of `replayMany`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReplayManyOptions extends ReplayOptions {
  /** Replays started per second at most (like SQS's message-move task), e.g. 10. */
  readonly ratePerSecond: number
  /** Stop after this many letters. */
  readonly maxLetters?: number
}

/**
 * Options of `purge`.
 *
 * @since 0.1.0
 * @category models
 */
export interface PurgeOptions {
  /** Removes resolved letters resolved longer ago than this (the article's default: 72 hours). */
  readonly resolvedOlderThan: Duration.DurationInput
  /** Also removes unresolved letters created longer ago than this. */
  readonly unresolvedOlderThan?: Duration.DurationInput
}

/**
 * A replay handler: gets the (patched) payload and the letter.
 *
 * @since 0.1.0
 * @category models
 */
export type Handler<A, E, R> = (payload: JsonValue, letter: Letter) => Effect.Effect<A, E, R>

/**
 * @since 0.1.0
 * @category models
 */
export interface DeadLetterQueueService {
  /** Stores a failed task; the same task or workflow id and attempt keeps one letter. */
  readonly add: (input: AddInput) => Effect.Effect<Added, InvalidInput | PayloadTooLarge | QueueFull | StoreError>
  readonly get: (id: string) => Effect.Effect<Letter, LetterNotFound | StoreError>
  /** A page of letters, newest first by default; pass `nextCursor` back as `cursor`. */
  readonly list: (filter?: ListFilter) => Effect.Effect<Page, InvalidInput | StoreError>
  /**
   * Claims the letter, runs the handler, and records the outcome: resolved
   * with the time and result, or one more attempt with the new error. A
   * second replay while the claim holds fails with `ReplayInProgress`.
   */
  readonly replay: <A, E, R>(
    id: string,
    handler: Handler<A, E, R>,
    options?: ReplayOptions
  ) => Effect.Effect<
    ReplayResult<A, E>,
    LetterNotFound | ReplayInProgress | AlreadyResolved | ClaimLost | InvalidInput | PayloadTooLarge | StoreError,
    R
  >
  /**
   * Replays the unresolved letters matching a filter, oldest first, one after
   * another, at most `ratePerSecond` starts per second, and reports each
   * letter by outcome. Bad options are `InvalidInput` (nothing replayed). A
   * patch that fails on a letter, or a store failure, stops the run with
   * `ReplayManyStopped`, which carries the report so far and the cause.
   */
  readonly replayMany: <A, E, R>(
    filter: Omit<ListFilter, "resolved" | "cursor" | "limit" | "order">,
    handler: Handler<A, E, R>,
    options: ReplayManyOptions
  ) => Effect.Effect<ReplayManyReport, InvalidInput | ReplayManyStopped, R>
  /** Marks a letter resolved by hand, with a note (a note that is not a string is `InvalidInput`). */
  readonly resolve: (
    id: string,
    resolution: string
  ) => Effect.Effect<Letter, LetterNotFound | AlreadyResolved | ReplayInProgress | InvalidInput | StoreError>
  /** Removes old letters (never one being replayed); returns how many. A bad age is `InvalidInput`. */
  readonly purge: (options: PurgeOptions) => Effect.Effect<number, InvalidInput | StoreError>
  readonly summary: () => Effect.Effect<Summary, StoreError>
  /** New letters (not duplicates) added through this instance, as they are stored. */
  readonly alerts: Stream.Stream<Letter>
  /** The same as `alerts`, as a queue subscribed now, for the life of the scope. */
  readonly subscribe: Effect.Effect<Queue.Dequeue<Letter>, never, Scope.Scope>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class DeadLetterQueue extends Context.Tag("@agentos/dlq/DeadLetterQueue")<
  DeadLetterQueue,
  DeadLetterQueueService
>() {}

/**
 * An in-process queue: nothing survives a restart. Bad options fail the
 * layer with `InvalidOptions`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options: Options = {}): Layer.Layer<DeadLetterQueue, InvalidOptions> =>
  Layer.scoped(
    DeadLetterQueue,
    Effect.flatMap(
      internalOptions.resolve(options),
      (resolved) => Effect.flatMap(makeMemoryStore(), (store) => internal.make(store, resolved))
    )
  )

/**
 * A queue in a directory: one JSON file per letter, written atomically. It
 * serves one process: a lock file (`dlq.lock`, holding the pid) guards the
 * directory, and a second holder fails with `DirectoryLocked`. A lock left
 * by a process that is no longer alive is taken over, with a log line. At
 * start, a file that does not decode (or a temporary file of an unfinished
 * write) is moved to `corrupt/`, logged, and reported in `summary().findings`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFileSystem = (
  options: Options & { readonly directory: string }
): Layer.Layer<DeadLetterQueue, DirectoryLocked | InvalidOptions | StoreError, FileSystem.FileSystem> =>
  Layer.scoped(
    DeadLetterQueue,
    Effect.flatMap(
      Effect.zip(internalOptions.resolve(options), internalOptions.directory(options?.directory)),
      ([resolved, directory]) => Effect.flatMap(makeFileStore(directory), (store) => internal.make(store, resolved))
    )
  )

/**
 * A queue in SQL (SQLite or Postgres, through `SqlClient`); runs its own
 * migrations (table `agentos_dlq_letters`). Several processes may share it:
 * replay claims are judged by the database's clock in one conditional UPDATE.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSql = (
  options: Options = {}
): Layer.Layer<DeadLetterQueue, InvalidOptions | StoreError, SqlClient.SqlClient> =>
  Layer.scoped(
    DeadLetterQueue,
    Effect.flatMap(
      internalOptions.resolve(options),
      (resolved) => Effect.flatMap(makeSqlStore, (store) => internal.make(store, resolved))
    )
  )

/**
 * Provides core's `DeadLetters` port from the `DeadLetterQueue`, so the
 * supervisor and the checkpoint engine dead-letter through it. `send` is
 * idempotent by `DeadLetters.dedupeKey`; errors map to `DeadLetterRejected`
 * (`invalid`, `payload-too-large`, `queue-full`, `store`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerPort: Layer.Layer<DeadLetters.DeadLetters, never, DeadLetterQueue> = Layer.effect(
  DeadLetters.DeadLetters,
  Effect.map(DeadLetterQueue, port.make)
)
