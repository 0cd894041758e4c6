import { assert, describe, it } from "@effect/vitest"
import * as Redaction from "../src/Redaction.js"

describe("Redaction.make", () => {
  it("blanks secret keys at any depth, by name suffix, and keeps look-alikes", () => {
    const redact = Redaction.make()
    const input = {
      headers: { "x-api-key": "k1", Authorization: "Basic abc", "set-cookie": "s=1" },
      env: { OPENAI_API_KEY: "k2", github_token: "k3", "db.password": "p", aws_secret_access_key: "k4" },
      list: [{ clientSecret: "c", privateKey: "pk" }],
      max_tokens: 2048,
      tokenizer: "cl100k",
      prompt_tokens: 10,
      query: "plain"
    }
    const out = redact(input, "payload")
    assert.deepStrictEqual(out, {
      headers: { "x-api-key": "[REDACTED]", Authorization: "[REDACTED]", "set-cookie": "[REDACTED]" },
      env: {
        OPENAI_API_KEY: "[REDACTED]",
        github_token: "[REDACTED]",
        "db.password": "[REDACTED]",
        aws_secret_access_key: "[REDACTED]"
      },
      list: [{ clientSecret: "[REDACTED]", privateKey: "[REDACTED]" }],
      max_tokens: 2048,
      tokenizer: "cl100k",
      prompt_tokens: 10,
      query: "plain"
    })
    assert.strictEqual(input.env.OPENAI_API_KEY, "k2", "the input is not changed")
  })

  it("masks known secret shapes inside strings", () => {
    const redact = Redaction.make()
    const text = [
      "openai sk-abcdefghijklmnop0123",
      "auth Bearer eyJhbGciOi.abc.def",
      "gh ghp_abcdefghijklmnopqrstuvwxyz0123",
      "aws AKIAIOSFODNN7EXAMPLE",
      "slack xoxb-1234567890-abcdef"
    ].join("; ")
    assert.strictEqual(
      redact(text, "payload"),
      "openai [REDACTED]; auth [REDACTED]; gh [REDACTED]; aws [REDACTED]; slack [REDACTED]"
    )
  })

  it("takes the caller's keys, patterns and replacement", () => {
    const redact = Redaction.make({ keys: ["email"], patterns: [/\d{3}-\d{2}-\d{4}/], replacement: "***" })
    assert.deepStrictEqual(
      redact({ workEmail: "a@b.c", note: "ssn 123-45-6789 twice 123-45-6789", apiKey: "k" }, "context"),
      {
        workEmail: "***",
        note: "ssn *** twice ***",
        apiKey: "k"
      }
    )
  })
})
