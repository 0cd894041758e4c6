// The real providers — OpenAI (Responses API), Anthropic (Messages API) and
// OpenAI-compatible chat completions — behind the routed model, against a
// local fake server started by the test (127.0.0.1) that replays the
// published examples of test/providerFixtures.ts, streaming and not, with
// usage and without. Spend is checked against the fixture's usage.
import * as Pricing from "@agentos/core/Pricing"
import * as AnthropicClient from "@effect/ai-anthropic/AnthropicClient"
import * as OpenAiClient from "@effect/ai-openai/OpenAiClient"
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as AnthropicProvider from "../src/AnthropicProvider.js"
import * as ChatCompletionsProvider from "../src/ChatCompletionsProvider.js"
import * as DecisionLog from "../src/DecisionLog.js"
import * as ModelCatalog from "../src/ModelCatalog.js"
import type * as ModelProvider from "../src/ModelProvider.js"
import * as OpenAiProvider from "../src/OpenAiProvider.js"
import * as RoutedLanguageModel from "../src/RoutedLanguageModel.js"
import * as Router from "../src/Router.js"
import * as SpendLedger from "../src/SpendLedger.js"
import { budgets, model } from "./fixtures.js"
import * as F from "./providerFixtures.js"

interface Reply {
  readonly status?: number
  readonly json?: unknown
  readonly sse?: string
  /** Sent as is, as JSON or as an event stream; with `cut`, the connection is then dropped. */
  readonly raw?: string
  readonly rawType?: "json" | "sse"
  readonly cut?: boolean
  readonly headers?: Readonly<Record<string, string>>
}

// One fake server for the file: each test sets the reply (or a queue of
// replies, one a request) and reads the request.
let reply: Reply = {}
let replies: Array<Reply> = []
let seen: { path: string; body: any } | undefined
let base = ""
const server = Http.createServer((req, res) => {
  let text = ""
  req.on("data", (c) => (text += c))
  req.on("end", () => {
    seen = { path: req.url ?? "", body: text.length > 0 ? JSON.parse(text) : undefined }
    if (replies.length > 0) reply = replies.shift()!
    if (reply.raw !== undefined) {
      res.writeHead(reply.status ?? 200, {
        "content-type": reply.rawType === "sse" ? "text/event-stream" : "application/json"
      })
      if (reply.cut === true) {
        res.write(reply.raw)
        // Let the written part reach the client before the connection drops.
        setTimeout(() => res.destroy(), 20)
      } else res.end(reply.raw)
    } else if (reply.sse !== undefined) {
      res.writeHead(reply.status ?? 200, { "content-type": "text/event-stream" })
      res.end(reply.sse)
    } else {
      res.writeHead(reply.status ?? 200, { "content-type": "application/json", ...reply.headers })
      res.end(JSON.stringify(reply.json ?? {}))
    }
  })
})
beforeAll(() =>
  new Promise<void>((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      resolve()
    })
  )
)
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

const catalog = Effect.runSync(ModelCatalog.fromData({
  asOf: "2026-12-06",
  models: [model("the-model", "vendor", "2", "8", 128_000, ["tools", "json", "streaming"])]
}))
const pricing = catalog.models[0]!.pricing

const costOf = (inputTokens: number, outputTokens: number, cachedInputTokens = 0) =>
  Pricing.cost(pricing, { inputTokens, outputTokens, cachedInputTokens, reasoningTokens: 0, source: "reported" })

const routedOver = <E>(providers: Layer.Layer<ModelProvider.ModelProviders, E>) => {
  const ledger = SpendLedger.layerMemory({ budgets, sweepInterval: 0 })
  return RoutedLanguageModel.layer({ scopes: ["team"], outputTokens: 100 }).pipe(
    Layer.provide(providers),
    Layer.provideMerge(Router.layer({ catalog })),
    Layer.provideMerge(ledger)
  )
}

const openAi = () =>
  routedOver(
    OpenAiProvider.layer({ serves: ["vendor"] }).pipe(
      Layer.provide(OpenAiClient.layer({ apiKey: Redacted.make("sk-test"), apiUrl: `${base}/v1` })),
      Layer.provide(FetchHttpClient.layer)
    )
  )
const anthropic = () =>
  routedOver(
    AnthropicProvider.layer({ serves: ["vendor"] }).pipe(
      Layer.provide(AnthropicClient.layer({ apiKey: Redacted.make("sk-ant-test"), apiUrl: base })),
      Layer.provide(FetchHttpClient.layer)
    )
  )
const chat = () =>
  routedOver(
    ChatCompletionsProvider.layer({ serves: ["vendor"], modelIds: { "the-model": "llama-3.3-70b" } }).pipe(
      Layer.provide(OpenAiClient.layer({ apiUrl: `${base}/v1` })),
      Layer.provide(FetchHttpClient.layer)
    )
  )

const team = Effect.flatMap(SpendLedger.SpendLedger, (l) => l.report()).pipe(
  Effect.map((r) => r.scopes.find((s) => s.scope === "team")!)
)

describe("OpenAI (Responses API)", () => {
  it.live("reported usage is charged; the output cap is sent as max_output_tokens", () =>
    Effect.gen(function*() {
      reply = { json: F.responsesCreate }
      const response = yield* LanguageModel.generateText({ prompt: "Tell me a three sentence bedtime story." })
      assert.strictEqual(response.text, F.responsesText)
      assert.strictEqual(seen?.path, "/v1/responses")
      assert.strictEqual(seen?.body.max_output_tokens, 100)
      assert.strictEqual(seen?.body.model, "the-model")
      const t = yield* team
      assert.deepStrictEqual([t.spent, t.calls, t.byModel[0]?.estimatedCalls], [costOf(36, 87), 1, 0])
    }).pipe(Effect.provide(openAi())))

  it.live("a response without usage is counted and marked estimated", () =>
    Effect.gen(function*() {
      reply = { json: F.responsesCreateWithoutUsage }
      const response = yield* LanguageModel.generateText({ prompt: "Tell me a story." })
      assert.strictEqual(response.text, F.responsesText)
      const t = yield* team
      assert.deepStrictEqual([t.calls, t.byModel[0]?.estimatedCalls], [1, 1])
      assert.isAbove(t.spent, 0)
    }).pipe(Effect.provide(openAi())))

  it.live("streaming (SSE): settled at the usage of response.completed", () =>
    Effect.gen(function*() {
      reply = { sse: F.responsesStream }
      const parts = Chunk.toReadonlyArray(yield* Stream.runCollect(LanguageModel.streamText({ prompt: "Hello!" })))
      assert.strictEqual(parts.flatMap((p) => p.type === "text-delta" ? [p.delta] : []).join(""), "Hi")
      assert.strictEqual(seen?.body.stream, true)
      assert.strictEqual(seen?.body.max_output_tokens, 100)
      const t = yield* team
      assert.deepStrictEqual([t.spent, t.reserved, t.byModel[0]?.estimatedCalls], [costOf(37, 11), 0, 0])
    }).pipe(Effect.provide(openAi())))

  it.live("streaming (SSE) without usage (no response.completed): what was delivered is counted, estimated", () =>
    Effect.gen(function*() {
      reply = { sse: F.responsesStreamWithoutUsage }
      yield* Stream.runDrain(LanguageModel.streamText({ prompt: "Hello!" }))
      const t = yield* team
      assert.deepStrictEqual([t.calls, t.reserved, t.byModel[0]?.estimatedCalls], [1, 0, 1])
      assert.isAbove(t.spent, 0)
    }).pipe(Effect.provide(openAi())))

  it.live("a 429 reaches the caller with its status; nothing is charged", () =>
    Effect.gen(function*() {
      reply = { status: 429, json: { error: { message: "Rate limit reached", type: "requests" } } }
      const failed = yield* Effect.flip(LanguageModel.generateText({ prompt: "Hi" }))
      assert.strictEqual(failed._tag, "HttpResponseError")
      const t = yield* team
      assert.deepStrictEqual([t.spent, t.reserved], [0, 0])
    }).pipe(Effect.provide(openAi())))
})

describe("Anthropic (Messages API)", () => {
  it.live("reported usage is charged; the output cap is sent as max_tokens", () =>
    Effect.gen(function*() {
      reply = { json: F.anthropicMessage }
      const response = yield* LanguageModel.generateText({ prompt: "Hello, world" })
      assert.strictEqual(response.text, "Hi! My name is Claude.")
      assert.strictEqual(seen?.path.split("?")[0], "/v1/messages")
      assert.strictEqual(seen?.body.max_tokens, 100)
      const t = yield* team
      assert.deepStrictEqual([t.spent, t.byModel[0]?.estimatedCalls], [costOf(2095, 503), 0])
    }).pipe(Effect.provide(anthropic())))

  it.live("prompt caching: cache reads and cache writes are charged, not only input_tokens", () =>
    Effect.gen(function*() {
      reply = { json: F.anthropicMessageCached }
      yield* LanguageModel.generateText({ prompt: "Hello, world" })
      const t = yield* team
      // 2,095 uncached + 1,000 written to the cache (at the input price) + 500 read from it.
      assert.deepStrictEqual([t.spent, t.byModel[0]?.estimatedCalls], [costOf(2095 + 1000 + 500, 503, 500), 0])
    }).pipe(Effect.provide(anthropic())))

  it.live("streaming (SSE): settled at the usage of message_start and message_delta", () =>
    Effect.gen(function*() {
      reply = { sse: F.anthropicStream }
      const parts = Chunk.toReadonlyArray(yield* Stream.runCollect(LanguageModel.streamText({ prompt: "Hello" })))
      const text = parts.flatMap((p) => p.type === "text-delta" ? [p.delta] : []).join("")
      assert.strictEqual(text, "Hello!")
      assert.strictEqual(seen?.body.stream, true)
      assert.strictEqual(seen?.body.max_tokens, 100)
      const t = yield* team
      assert.deepStrictEqual([t.spent, t.reserved, t.byModel[0]?.estimatedCalls], [costOf(25, 15), 0, 0])
    }).pipe(Effect.provide(anthropic())))
})

describe("Anthropic (Messages API), usage omitted", () => {
  it.live("a stream cut before message_delta: what was delivered is counted, marked estimated", () =>
    Effect.gen(function*() {
      reply = { sse: F.anthropicStreamWithoutUsage }
      yield* Effect.either(Stream.runDrain(LanguageModel.streamText({ prompt: "Hello" })))
      const t = yield* team
      assert.deepStrictEqual([t.calls, t.reserved, t.byModel[0]?.estimatedCalls], [1, 0, 1])
      assert.isAbove(t.spent, 0)
    }).pipe(Effect.provide(anthropic())))
})

describe("OpenAI-compatible chat completions", () => {
  it.live("reported usage is charged; max_tokens and the server's model id are sent", () =>
    Effect.gen(function*() {
      reply = { json: F.chatCompletion }
      const response = yield* LanguageModel.generateText({ prompt: "Hello!" })
      assert.strictEqual(response.text, "Hello! How can I assist you today?")
      assert.strictEqual(response.finishReason, "stop")
      assert.strictEqual(seen?.path, "/v1/chat/completions")
      assert.deepStrictEqual([seen?.body.model, seen?.body.max_tokens, seen?.body.stream], [
        "llama-3.3-70b",
        100,
        false
      ])
      assert.deepStrictEqual(seen?.body.messages, [{ role: "user", content: "Hello!" }])
      const t = yield* team
      assert.deepStrictEqual([t.spent, t.byModel[0]?.estimatedCalls], [costOf(19, 10), 0])
    }).pipe(Effect.provide(chat())))

  it.live("without usage: counted and marked estimated", () =>
    Effect.gen(function*() {
      reply = { json: F.chatCompletionWithoutUsage }
      yield* LanguageModel.generateText({ prompt: "Hello!" })
      const t = yield* team
      assert.deepStrictEqual([t.calls, t.byModel[0]?.estimatedCalls], [1, 1])
    }).pipe(Effect.provide(chat())))

  it.live("streaming (SSE) with usage: asked for with include_usage, charged as reported", () =>
    Effect.gen(function*() {
      reply = { sse: F.chatCompletionStreamWithUsage }
      const parts = Chunk.toReadonlyArray(yield* Stream.runCollect(LanguageModel.streamText({ prompt: "Hello!" })))
      assert.strictEqual(parts.flatMap((p) => p.type === "text-delta" ? [p.delta] : []).join(""), "Hello")
      assert.deepStrictEqual(seen?.body.stream_options, { include_usage: true })
      const t = yield* team
      assert.deepStrictEqual([t.spent, t.reserved, t.byModel[0]?.estimatedCalls], [costOf(9, 12), 0, 0])
    }).pipe(Effect.provide(chat())))

  it.live("streaming (SSE) without usage: what was delivered is counted, marked estimated", () =>
    Effect.gen(function*() {
      reply = { sse: F.chatCompletionStreamWithoutUsage }
      const parts = Chunk.toReadonlyArray(yield* Stream.runCollect(LanguageModel.streamText({ prompt: "Hello!" })))
      assert.strictEqual(parts.at(-1)?.type, "finish")
      const t = yield* team
      assert.deepStrictEqual([t.calls, t.reserved, t.byModel[0]?.estimatedCalls], [1, 0, 1])
    }).pipe(Effect.provide(chat())))

  it.live("generateObject sends a json_schema response format", () =>
    Effect.gen(function*() {
      reply = {
        json: {
          ...F.chatCompletion,
          choices: [{
            ...F.chatCompletion.choices[0]!,
            message: { ...F.chatCompletion.choices[0]!.message, content: "{\"greeting\":\"Hello!\"}" }
          }]
        }
      }
      const { Schema } = yield* Effect.promise(() => import("effect"))
      const response = yield* LanguageModel.generateObject({
        prompt: "Greet me",
        schema: Schema.Struct({ greeting: Schema.String }),
        objectName: "greeting"
      })
      assert.deepStrictEqual(response.value, { greeting: "Hello!" })
      assert.strictEqual(seen?.body.response_format.type, "json_schema")
    }).pipe(Effect.provide(chat())))
})

describe("an answer cut short after the provider answered (HTTP 200)", () => {
  const latest = Effect.flatMap(DecisionLog.DecisionLog, (log) => log.recent({ limit: 1 })).pipe(
    Effect.map((entries) => entries[0]!.attempts[0]!)
  )

  it.live("a body that does not parse is charged its reservation, not cancelled: the provider billed it", () =>
    Effect.gen(function*() {
      // The published example, cut off a third of the way through.
      const body = JSON.stringify(F.responsesCreate)
      reply = { raw: body.slice(0, Math.floor(body.length / 3)) }
      const failed = yield* Effect.flip(LanguageModel.generateText({ prompt: "Tell me a story." }))
      assert.strictEqual(failed._tag, "HttpResponseError")
      const attempt = yield* latest
      const t = yield* team
      assert.isAbove(attempt.reserved, 0)
      assert.deepStrictEqual([t.spent, t.reserved, attempt.charged], [attempt.reserved, 0, attempt.reserved])
    }).pipe(Effect.provide(openAi())))

  it.live("a stream whose connection drops after the first chunk is charged its reservation", () =>
    Effect.gen(function*() {
      // The streaming example's first chunk (the role, no text yet), then the connection drops.
      reply = { raw: F.chatCompletionStreamWithoutUsage.split("\n\n")[0]! + "\n\n", rawType: "sse", cut: true }
      const failed = yield* Effect.either(Stream.runDrain(LanguageModel.streamText({ prompt: "Hello!" })))
      assert.isTrue(failed._tag === "Left")
      const attempt = yield* latest
      const t = yield* team
      assert.isAbove(attempt.reserved, 0)
      assert.deepStrictEqual([t.spent, t.reserved, attempt.charged], [attempt.reserved, 0, attempt.reserved])
    }).pipe(Effect.provide(chat())))
})

describe("an error event in the stream (Anthropic overloaded_error after a 200)", () => {
  it.live("the attempt is logged failed, counts toward the cooldown, and is charged what it delivered", () =>
    Effect.gen(function*() {
      reply = { sse: F.anthropicStreamOverloaded }
      const parts = Chunk.toReadonlyArray(yield* Stream.runCollect(LanguageModel.streamText({ prompt: "Hello" })))
      assert.strictEqual(parts.flatMap((p) => p.type === "text-delta" ? [p.delta] : []).join(""), "Hello")
      assert.isTrue(parts.some((p) => p.type === "error"))
      const entry = (yield* Effect.flatMap(DecisionLog.DecisionLog, (log) => log.recent({ limit: 1 })))[0]!
      assert.deepStrictEqual([entry.outcome, entry.attempts[0]!.outcome], ["failed", "failed"])
      assert.match(entry.attempts[0]!.error ?? "", /overloaded/)
      const t = yield* team
      assert.deepStrictEqual([t.calls, t.reserved, t.byModel[0]?.estimatedCalls], [1, 0, 1])
      assert.strictEqual(t.spent, entry.attempts[0]!.charged)
      // Two more in a row (the default cooldown takes three): the model cools down.
      yield* Stream.runDrain(LanguageModel.streamText({ prompt: "Hello" }))
      yield* Stream.runDrain(LanguageModel.streamText({ prompt: "Hello" }))
      const cooled = yield* Effect.either(Stream.runDrain(LanguageModel.streamText({ prompt: "Hello" })))
      assert.isTrue(cooled._tag === "Left")
      const last = (yield* Effect.flatMap(DecisionLog.DecisionLog, (log) => log.recent({ limit: 1 })))[0]!
      assert.deepStrictEqual(last.attempts[0]!.rejected.find((r) => r.model === "the-model")?.reasons, [
        "cooling-down"
      ])
    }).pipe(Effect.provide(anthropic())))
})

describe("an error object inside a chat-completions stream", () => {
  it.live("is passed on as an error part, and the attempt is logged failed", () =>
    Effect.gen(function*() {
      reply = { sse: F.chatCompletionStreamWithError }
      const parts = Chunk.toReadonlyArray(yield* Stream.runCollect(LanguageModel.streamText({ prompt: "Hello!" })))
      assert.strictEqual(parts.flatMap((p) => p.type === "text-delta" ? [p.delta] : []).join(""), "Hello")
      assert.isTrue(parts.some((p) => p.type === "error"))
      const entry = (yield* Effect.flatMap(DecisionLog.DecisionLog, (log) => log.recent({ limit: 1 })))[0]!
      assert.deepStrictEqual([entry.outcome, entry.attempts[0]!.outcome], ["failed", "failed"])
      assert.match(entry.attempts[0]!.error ?? "", /server_error/)
      const t = yield* team
      assert.deepStrictEqual([t.calls, t.reserved, t.byModel[0]?.estimatedCalls], [1, 0, 1])
    }).pipe(Effect.provide(chat())))
})

describe("error statuses and Retry-After through the adapters", () => {
  const latest = Effect.flatMap(DecisionLog.DecisionLog, (log) => log.recent({ limit: 1 })).pipe(
    Effect.map((entries) => entries[0]!)
  )

  it.live("Anthropic 429 with retry-after (seconds): retryable, cooled down that long, nothing charged", () =>
    Effect.gen(function*() {
      reply = {
        status: 429,
        headers: { "retry-after": "30" },
        json: {
          type: "error",
          error: { type: "rate_limit_error", message: "Number of requests has exceeded your rate limit" }
        }
      }
      const failed = yield* Effect.flip(LanguageModel.generateText({ prompt: "Hi" }))
      assert.strictEqual(failed._tag, "HttpResponseError")
      const first = yield* latest
      assert.deepStrictEqual(
        [first.attempts[0]!.status, first.attempts[0]!.retryable, first.attempts[0]!.retryAfterMillis],
        [429, true, 30_000]
      )
      // The only model cools down: the next call is not sent.
      const next = yield* Effect.flip(LanguageModel.generateText({ prompt: "Hi" }))
      assert.isTrue(Option.isSome(RoutedLanguageModel.routerError(next)))
      assert.deepStrictEqual((yield* latest).attempts[0]!.rejected[0]?.reasons, ["cooling-down"])
      const t = yield* team
      assert.deepStrictEqual([t.spent, t.reserved], [0, 0])
    }).pipe(Effect.provide(anthropic())))

  it.live("Anthropic 529 overloaded_error: retryable", () =>
    Effect.gen(function*() {
      reply = { status: 529, json: { type: "error", error: { type: "overloaded_error", message: "Overloaded" } } }
      yield* Effect.flip(LanguageModel.generateText({ prompt: "Hi" }))
      const overloaded = (yield* latest).attempts[0]!
      assert.deepStrictEqual([overloaded.status, overloaded.retryable], [529, true])
    }).pipe(Effect.provide(anthropic())))

  it.live("OpenAI 429 with retry-after-ms: cooled down that many milliseconds", () =>
    Effect.gen(function*() {
      reply = {
        status: 429,
        headers: { "retry-after-ms": "1500", "retry-after": "2" },
        json: { error: { message: "Rate limit reached", type: "requests", param: null, code: "rate_limit_exceeded" } }
      }
      yield* Effect.flip(LanguageModel.generateText({ prompt: "Hi" }))
      const attempt = (yield* latest).attempts[0]!
      assert.deepStrictEqual([attempt.status, attempt.retryable, attempt.retryAfterMillis], [429, true, 1_500])
    }).pipe(Effect.provide(openAi())))
})

describe("a request the adapter cannot encode", () => {
  it.live("is refused before it is sent (MalformedInput): cancelled, nothing charged", () =>
    Effect.gen(function*() {
      seen = undefined
      reply = { json: F.chatCompletion }
      // The chat-completions adapter sends text only: a tool result is refused.
      const failed = yield* Effect.flip(LanguageModel.generateText({
        prompt: [
          { role: "user", content: "What time is it?" },
          { role: "assistant", content: [{ type: "tool-call", id: "call-1", name: "Now", params: {} }] },
          {
            role: "tool",
            content: [{
              type: "tool-result",
              id: "call-1",
              name: "Now",
              result: "noon",
              isFailure: false,
              providerExecuted: false
            }]
          }
        ]
      }))
      assert.strictEqual(failed._tag, "MalformedInput")
      assert.isUndefined(seen)
      const t = yield* team
      assert.deepStrictEqual([t.spent, t.reserved, t.calls], [0, 0, 0])
    }).pipe(Effect.provide(chat())))
})

describe("a retryable error event before anything was delivered (overloaded_error after a 200)", () => {
  const two = Effect.runSync(ModelCatalog.fromData({
    asOf: "2026-12-06",
    models: [
      model("the-model", "vendor", "2", "8", 128_000, ["streaming"]),
      model("the-backup", "vendor", "3", "12", 128_000, ["streaming"])
    ]
  }))
  const layer = () =>
    RoutedLanguageModel.layer({ scopes: ["team"], outputTokens: 100 }).pipe(
      Layer.provide(
        AnthropicProvider.layer({ serves: ["vendor"] }).pipe(
          Layer.provide(AnthropicClient.layer({ apiKey: Redacted.make("sk-ant-test"), apiUrl: base })),
          Layer.provide(FetchHttpClient.layer)
        )
      ),
      Layer.provideMerge(Router.layer({ catalog: two })),
      Layer.provideMerge(SpendLedger.layerMemory({ budgets, sweepInterval: 0 }))
    )

  it.live("falls back like a 529: the next model answers, the caller never sees the error", () =>
    Effect.gen(function*() {
      replies = [{ sse: F.anthropicStreamOverloadedAtStart }, { sse: F.anthropicStream }]
      const parts = Chunk.toReadonlyArray(yield* Stream.runCollect(LanguageModel.streamText({ prompt: "Hello" })))
      assert.strictEqual(parts.flatMap((p) => p.type === "text-delta" ? [p.delta] : []).join(""), "Hello!")
      assert.isFalse(parts.some((p) => p.type === "error"))
      const entry = (yield* Effect.flatMap(DecisionLog.DecisionLog, (log) => log.recent({ limit: 1 })))[0]!
      assert.deepStrictEqual(entry.attempts.map((a) => [a.model, a.outcome, a.retryable]), [
        ["the-model", "failed", true],
        ["the-backup", "succeeded", undefined]
      ])
      assert.match(entry.attempts[0]!.error ?? "", /overloaded/)
      const backup = two.models[1]!.pricing
      const t = yield* team
      // The overloaded attempt is charged its input (estimated, nothing delivered); the fallback its usage.
      assert.deepStrictEqual([t.reserved, t.spent], [
        0,
        entry.attempts[0]!.charged! +
        Pricing.cost(backup, {
          inputTokens: 25,
          outputTokens: 15,
          cachedInputTokens: 0,
          reasoningTokens: 0,
          source: "reported"
        })
      ])
      assert.isBelow(entry.attempts[0]!.charged!, entry.attempts[0]!.reserved)
    }).pipe(Effect.provide(layer())))
})
