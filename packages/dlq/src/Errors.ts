/**
 * The typed errors of the dead letter queue. They are `Schema.TaggedError`s,
 * so they serialise across HTTP and files.
 *
 * @since 0.1.0
 */
import * as StoreFailure from "@agentos/core/StoreFailure"
import * as Schema from "effect/Schema"
import { ReplayManyReport } from "./Letter.js"

/**
 * A call's argument is not valid (the input of `add`, a `list` filter, a
 * replay's patched payload, a `purge` age, a `resolve` note, `replayMany`'s
 * options). Nothing was changed.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidInput extends Schema.TaggedError<InvalidInput>()("InvalidInput", {
  message: Schema.String
}) {}

/**
 * A layer's options are not valid (not a positive integer, a claim timeout
 * that is not a positive, finite duration, a `redact` that is not a
 * function). The layer fails when it is built, before anything is opened.
 *
 * @since 0.2.0
 * @category errors
 */
export class InvalidOptions extends Schema.TaggedError<InvalidOptions>()("InvalidOptions", {
  message: Schema.String
}) {}

/**
 * A payload is larger than the queue's `maxPayloadBytes` (measured as UTF-8
 * JSON after redaction). Nothing is truncated: the letter is not stored.
 *
 * @since 0.1.0
 * @category errors
 */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", {
  bytes: Schema.Int,
  maxBytes: Schema.Int
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `the payload is ${this.bytes} bytes, above the limit of ${this.maxBytes} bytes`
  }
}

/**
 * The queue holds `maxLetters` letters: a new letter is refused (existing
 * letters are never evicted). Purge or resolve letters to make room.
 *
 * @since 0.1.0
 * @category errors
 */
export class QueueFull extends Schema.TaggedError<QueueFull>()("QueueFull", {
  maxLetters: Schema.Int
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `the dead letter queue is full (${this.maxLetters} letters)`
  }
}

/**
 * No letter has this id.
 *
 * @since 0.1.0
 * @category errors
 */
export class LetterNotFound extends Schema.TaggedError<LetterNotFound>()("LetterNotFound", {
  id: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `no dead letter with id "${this.id}"`
  }
}

/**
 * Another replay holds the letter's claim. `claimedUntil` (epoch
 * milliseconds, by the store's clock) is when the claim expires if its holder
 * never finishes.
 *
 * @since 0.1.0
 * @category errors
 */
export class ReplayInProgress extends Schema.TaggedError<ReplayInProgress>()("ReplayInProgress", {
  id: Schema.String,
  claimedUntil: Schema.Int
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `dead letter "${this.id}" is being replayed (claim held until ${this.claimedUntil})`
  }
}

/**
 * The letter is already resolved: it is not replayed or resolved again.
 *
 * @since 0.1.0
 * @category errors
 */
export class AlreadyResolved extends Schema.TaggedError<AlreadyResolved>()("AlreadyResolved", {
  id: Schema.String,
  resolvedAt: Schema.Int
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `dead letter "${this.id}" was resolved at ${this.resolvedAt}`
  }
}

/**
 * The replay's claim expired and the letter was taken before this replay
 * finished (by another replay, a manual `resolve`, or a `purge`), so this
 * replay's outcome was not recorded (a fencing token keeps a slow replayer
 * from overwriting a newer outcome or a manual resolution).
 *
 * @since 0.1.0
 * @category errors
 */
export class ClaimLost extends Schema.TaggedError<ClaimLost>()("ClaimLost", {
  id: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `the replay claim on dead letter "${this.id}" expired and the letter was taken meanwhile; this outcome was not recorded`
  }
}

/**
 * The file layer's directory is locked by another holder (a live process, or
 * another layer in this process).
 *
 * @since 0.1.0
 * @category errors
 */
export class DirectoryLocked extends Schema.TaggedError<DirectoryLocked>()("DirectoryLocked", {
  directory: Schema.String,
  pid: Schema.Int
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `the dead letter directory "${this.directory}" is locked by process ${this.pid}; the file layer serves one process (use layerSql to share)`
  }
}

/**
 * The store failed (SQL error, file-system error, a stored letter that does
 * not decode). `operation` names the store operation (`"insert"`, `"claim"`,
 * `"open"`…); `cause` keeps the driver's error as it was.
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", StoreFailure.fields) {
  /** @since 0.2.0 */
  override get message(): string {
    return StoreFailure.message("dlq", this)
  }
}

/**
 * An alert could not be delivered (logged by the queue, never failing `add`).
 *
 * @since 0.1.0
 * @category errors
 */
export class AlertFailed extends Schema.TaggedError<AlertFailed>()("AlertFailed", {
  letterId: Schema.String,
  message: Schema.String
}) {}

/**
 * `replayMany` stopped before the end: a `modify` patch failed on a letter
 * (`InvalidInput`, `PayloadTooLarge`) or the store failed. `report` says what
 * it did before (those outcomes are recorded on their letters); `letterId`
 * names the letter it stopped at (none when listing the next page failed);
 * `error` is the cause. Nothing of that letter was changed.
 *
 * @since 0.1.0
 * @category errors
 */
export class ReplayManyStopped extends Schema.TaggedError<ReplayManyStopped>()("ReplayManyStopped", {
  letterId: Schema.optional(Schema.String),
  report: ReplayManyReport,
  error: Schema.Union(InvalidInput, PayloadTooLarge, StoreError)
}) {
  /** @since 0.1.0 */
  override get message(): string {
    const r = this.report
    const done = r.succeeded.length + r.failed.length + r.skipped.length + r.claimLost.length
    return `replayMany stopped${
      this.letterId === undefined ? "" : ` at dead letter "${this.letterId}"`
    } after ${done} ` +
      `letters (${r.succeeded.length} succeeded, ${r.failed.length} failed, ${r.skipped.length} skipped, ` +
      `${r.claimLost.length} claims lost): ${this.error.message}`
  }
}
