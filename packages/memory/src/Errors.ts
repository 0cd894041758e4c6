/**
 * The typed errors of agent memory. They are `Schema.TaggedError`s, so they
 * serialise across HTTP and files.
 *
 * @since 0.1.0
 */
import * as StoreFailure from "@agentos/core/StoreFailure"
import * as Schema from "effect/Schema"

/**
 * A call's argument is not valid (an empty text, an importance outside
 * 0–1, a `topK` that is not a positive integer…). Nothing was changed.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidInput extends Schema.TaggedError<InvalidInput>()("InvalidInput", {
  message: Schema.String
}) {}

/**
 * A layer's options are not valid (negative weights, a half-life that is
 * not a positive number, a floor outside 0–1…). The layer fails when it is
 * built, before anything is opened.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidOptions extends Schema.TaggedError<InvalidOptions>()("InvalidOptions", {
  message: Schema.String
}) {}

/**
 * No live memory has this id (it never existed, was forgotten, evicted,
 * cleared or superseded).
 *
 * @since 0.1.0
 * @category errors
 */
export class MemoryNotFound extends Schema.TaggedError<MemoryNotFound>()("MemoryNotFound", {
  id: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `no live memory with id "${this.id}"`
  }
}

/**
 * The `Embedder` failed to embed a text; `message` is its reason.
 *
 * @since 0.1.0
 * @category errors
 */
export class EmbeddingFailed extends Schema.TaggedError<EmbeddingFailed>()("EmbeddingFailed", {
  message: Schema.String
}) {}

/**
 * The store failed (SQL error, a stored row that does not decode).
 * `operation` names the store operation (`"apply"`, `"load"`, `"changes"`…);
 * `cause` keeps the driver's error as it was.
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", StoreFailure.fields) {
  /** @since 0.1.0 */
  override get message(): string {
    return StoreFailure.message("memory", this)
  }
}
