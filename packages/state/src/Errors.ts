/**
 * The typed errors of shared state. They are `Schema.TaggedError`s, so they
 * serialise across HTTP and files.
 *
 * @since 0.2.0
 */
import { JsonObject } from "@agentos/core/Json"
import * as StoreFailure from "@agentos/core/StoreFailure"
import * as Schema from "effect/Schema"

/**
 * A write or delete expected another version (strategy `reject`, or any
 * delete). Carries what the caller needs to retry: the current version,
 * value (`null` if absent) and who wrote it.
 *
 * @since 0.1.0
 * @category errors
 */
export class VersionConflict extends Schema.TaggedError<VersionConflict>()("VersionConflict", {
  key: Schema.String,
  expectedVersion: Schema.Number,
  currentVersion: Schema.Number,
  currentValue: Schema.NullOr(JsonObject),
  modifiedBy: Schema.Array(Schema.String),
  /** When the current version was written (0 if absent). */
  updatedAt: Schema.Number
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `version conflict on "${this.key}": expected version ${this.expectedVersion}, current is ${this.currentVersion} (by ${
      this.modifiedBy.join("+") || "nobody"
    })`
  }
}

/**
 * A write carried a fencing token that is not the newest granted for the
 * key: its lock was lost (lease expired and granted again) or never existed.
 *
 * @since 0.1.0
 * @category errors
 */
export class StaleFence extends Schema.TaggedError<StaleFence>()("StaleFence", {
  key: Schema.String,
  fence: Schema.Number,
  newestFence: Schema.Number
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `stale fence on "${this.key}": ${this.fence}, the newest granted is ${this.newestFence}`
  }
}

/**
 * A write without a fence to a key whose lock is held (lease live).
 *
 * @since 0.1.0
 * @category errors
 */
export class KeyLocked extends Schema.TaggedError<KeyLocked>()("KeyLocked", {
  key: Schema.String,
  holder: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `"${this.key}" is locked by ${this.holder}: write with its fence`
  }
}

/**
 * `withLock` waited its `wait` and the lock was still held by another agent.
 *
 * @since 0.1.0
 * @category errors
 */
export class LockTimeout extends Schema.TaggedError<LockTimeout>()("LockTimeout", {
  key: Schema.String,
  agent: Schema.String,
  waitedMillis: Schema.Number
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `lock on "${this.key}" not granted to ${this.agent} within ${this.waitedMillis} ms`
  }
}

/**
 * A value that is not a JSON object, or does not decode with the schema of
 * its key's prefix. Nothing was written.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidValue extends Schema.TaggedError<InvalidValue>()("InvalidValue", {
  key: Schema.String,
  reason: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `invalid value for "${this.key}": ${this.reason}`
  }
}

/**
 * A call's argument is not valid: an empty key, a negative version, a bad
 * limit, a missing agent, a lock's ttl of zero. Nothing was written.
 *
 * @since 0.2.0
 * @category errors
 */
export class InvalidInput extends Schema.TaggedError<InvalidInput>()("InvalidInput", {
  message: Schema.String
}) {}

/**
 * A layer's options are not valid (an unknown strategy, a history limit out
 * of range, a prefix configured twice, a schema that is not a `Schema`, a
 * poll interval that is not a finite positive duration). The layer fails
 * when it is built, before anything is opened.
 *
 * @since 0.2.0
 * @category errors
 */
export class InvalidOptions extends Schema.TaggedError<InvalidOptions>()("InvalidOptions", {
  message: Schema.String
}) {}

/**
 * The backend failed: `operation` names the store operation (`"set"`,
 * `"get"`, `"migrate"`…), `cause` keeps the driver's error.
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", StoreFailure.fields) {
  /** @since 0.1.0 */
  override get message(): string {
    return StoreFailure.message("state", this)
  }
}

/**
 * The errors of a write.
 *
 * @since 0.1.0
 * @category errors
 */
export type WriteError = VersionConflict | StaleFence | KeyLocked | InvalidValue | InvalidInput | StoreError
