import { assert, describe, it } from "@effect/vitest"
import * as JSONSchema from "effect/JSONSchema"
import * as Schema from "effect/Schema"
import * as Json from "../src/Json.js"

// What a JSON Schema `type` says of a value, to check that the document admits every JSON value.
const jsonType = (value: unknown) => value === null ? "null" : Array.isArray(value) ? "array" : typeof value

const admits = (schema: any, value: unknown): boolean =>
  schema.anyOf !== undefined ? schema.anyOf.some((s: any) => admits(s, value)) : schema.type === jsonType(value)

describe("Json schemas in JSON Schema", () => {
  it("JsonValue describes any JSON value, and only JSON types", () => {
    const document = JSONSchema.make(Json.JsonValue) as any
    assert.strictEqual(document.$ref, "#/$defs/JsonValue")
    const definition = document.$defs.JsonValue
    assert.match(definition.description, /any JSON value/)
    for (const value of [null, true, 1.5, "text", [1, "a"], { a: { b: [null] } }]) {
      assert.isTrue(admits(definition, value), JSON.stringify(value))
    }
    assert.deepStrictEqual(
      definition.anyOf.map((s: any) => s.type).sort(),
      ["array", "boolean", "null", "number", "object", "string"]
    )
  })

  it("JsonObject describes a JSON object, not an array or a scalar", () => {
    const document = JSONSchema.make(Json.JsonObject) as any
    assert.strictEqual(document.$ref, "#/$defs/JsonObject")
    const definition = document.$defs.JsonObject
    assert.strictEqual(definition.type, "object")
    assert.match(definition.description, /JSON object/)
    assert.isTrue(admits(definition, { a: 1 }))
    for (const value of [[], null, "text", 1]) assert.isFalse(admits(definition, value), JSON.stringify(value))
  })

  it("a schema that holds them generates, without the OpenAPI target's missing-annotation error", () => {
    const Letter = Schema.Struct({
      payload: Json.JsonValue,
      context: Json.JsonObject,
      result: Schema.optional(Json.JsonValue)
    })
    const document = JSONSchema.make(Letter, { target: "openApi3.1" }) as any
    assert.deepStrictEqual(document.properties.payload, { $ref: "#/$defs/JsonValue" })
    assert.deepStrictEqual(document.properties.context, { $ref: "#/$defs/JsonObject" })
    assert.deepStrictEqual(document.required, ["payload", "context"])
    assert.hasAllKeys(document.$defs, ["JsonValue", "JsonObject"])
  })
})
