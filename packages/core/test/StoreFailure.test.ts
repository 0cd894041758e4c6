import { SqlError } from "@effect/sql/SqlError"
import { assert, describe, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import * as StoreFailure from "../src/StoreFailure.js"

class StoreError extends Schema.TaggedError<StoreError>()("StoreError", StoreFailure.fields) {
  override get message() {
    return StoreFailure.message("demo", this)
  }
}

describe("StoreFailure", () => {
  it("keeps the backend's error as the cause and derives a message naming the operation and the driver's code", () => {
    const driver = Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" })
    const cause = new SqlError({ cause: driver, message: "Failed to execute statement" })
    const error = new StoreError({ operation: "add", cause })
    assert.strictEqual(error.cause, cause)
    assert.strictEqual(
      error.message,
      "demo store: add failed: Failed to execute statement [SQLITE_BUSY] database is locked"
    )
  })

  it("serialises and decodes back with the cause's message", () => {
    const error = new StoreError({ operation: "load", cause: new Error("the file is corrupt") })
    const encoded = Schema.encodeSync(StoreError)(error)
    const json = JSON.parse(JSON.stringify(encoded))
    const decoded = Schema.decodeUnknownSync(StoreError)(json)
    assert.strictEqual(decoded.operation, "load")
    assert.strictEqual(decoded.message, "demo store: load failed: the file is corrupt")
  })

  it("describes causes that are not errors", () => {
    assert.strictEqual(StoreFailure.describeCause("plain"), "plain")
    assert.strictEqual(StoreFailure.describeCause(42), "42")
    assert.strictEqual(StoreFailure.describeCause({ _tag: "SystemError" }), "SystemError")
  })
})
