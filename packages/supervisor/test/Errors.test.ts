import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { StoreError } from "../src/Errors.js"

describe("StoreError", () => {
  it.effect("has core's StoreFailure shape: the operation, the backend's error kept whole, one message", () =>
    Effect.gen(function*() {
      const cause = Object.assign(new Error("connection refused"), { code: "ECONNREFUSED" })
      const error = new StoreError({ operation: "take", cause })
      assert.strictEqual(error.message, "supervisor store: take failed: connection refused [ECONNREFUSED]")
      assert.strictEqual(error.cause, cause)
      // It serialises like every other error (the cause as its name and message:
      // the driver's code stays on this side).
      const encoded = yield* Schema.encode(StoreError)(error)
      const decoded = yield* Schema.decodeUnknown(StoreError)(JSON.parse(JSON.stringify(encoded)))
      assert.strictEqual(decoded.operation, "take")
      assert.strictEqual(decoded.message, "supervisor store: take failed: connection refused")
    }))
})
