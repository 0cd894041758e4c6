/**
 * A chat-completions `LanguageModel` (vLLM, Ollama, OpenRouter, LM Studio,
 * OpenAI) built with `LanguageModel.make` on `@effect/ai-openai`'s client:
 * its HTTP client (base URL, key) sends `POST /chat/completions`, its
 * `streamRequest` reads the SSE stream. Responses are decoded leniently
 * (servers differ in the optional fields they send); usage, when sent, is
 * reported in the finish part, and streams ask for it
 * (`stream_options.include_usage`). An error the server sends inside the
 * stream after its 200 becomes an `error` part, as `@effect/ai`'s own
 * providers pass theirs.
 */
import type * as OpenAiClient from "@effect/ai-openai/OpenAiClient"
import * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as JSONSchema from "effect/JSONSchema"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as ModelProvider from "../ModelProvider.js"

const Usage = Schema.Struct({
  prompt_tokens: Schema.Number,
  completion_tokens: Schema.Number,
  prompt_tokens_details: Schema.optional(Schema.NullOr(Schema.Struct({
    cached_tokens: Schema.optional(Schema.NullOr(Schema.Number))
  }))),
  completion_tokens_details: Schema.optional(Schema.NullOr(Schema.Struct({
    reasoning_tokens: Schema.optional(Schema.NullOr(Schema.Number))
  })))
})

const Completion = Schema.Struct({
  id: Schema.optional(Schema.String),
  model: Schema.optional(Schema.String),
  choices: Schema.Array(Schema.Struct({
    message: Schema.Struct({ content: Schema.optional(Schema.NullOr(Schema.String)) }),
    finish_reason: Schema.optional(Schema.NullOr(Schema.String))
  })),
  usage: Schema.optional(Schema.NullOr(Usage))
})

// A chunk, or an error sent in the stream after the 200: `{ "error": { message, type, code } }`
// (OpenAI, SGLang; OpenRouter beside its choices) or `{ "object": "error", message }` (vLLM).
const Chunk = Schema.Struct({
  id: Schema.optional(Schema.String),
  object: Schema.optional(Schema.String),
  model: Schema.optional(Schema.String),
  choices: Schema.optionalWith(
    Schema.Array(Schema.Struct({
      delta: Schema.optional(Schema.NullOr(Schema.Struct({ content: Schema.optional(Schema.NullOr(Schema.String)) }))),
      finish_reason: Schema.optional(Schema.NullOr(Schema.String))
    })),
    { default: () => [] }
  ),
  usage: Schema.optional(Schema.NullOr(Usage)),
  error: Schema.optional(Schema.Unknown),
  message: Schema.optional(Schema.Unknown)
})

/** The error a chunk carries, if it is one. */
const errorOf = (chunk: typeof Chunk.Type): unknown =>
  chunk.error !== undefined && chunk.error !== null
    ? chunk.error
    : chunk.object === "error"
    ? { message: chunk.message }
    : undefined

const finishReason = (reason: string | null | undefined): Response.FinishReason => {
  switch (reason) {
    case "stop":
      return "stop"
    case "length":
      return "length"
    case "content_filter":
      return "content-filter"
    case "error":
      return "error"
    case "tool_calls":
    case "function_call":
      return "tool-calls"
    default:
      return reason === null || reason === undefined ? "unknown" : "other"
  }
}

const usageOf = (usage: typeof Usage.Type | null | undefined) => ({
  inputTokens: usage?.prompt_tokens,
  outputTokens: usage?.completion_tokens,
  totalTokens: usage === null || usage === undefined ? undefined : usage.prompt_tokens + usage.completion_tokens,
  reasoningTokens: usage?.completion_tokens_details?.reasoning_tokens ?? undefined,
  cachedInputTokens: usage?.prompt_tokens_details?.cached_tokens ?? undefined
})

/** The prompt as chat messages: text parts only (files and tool calls are refused). */
const messagesOf = (prompt: Prompt.Prompt): Effect.Effect<Array<{ role: string; content: string }>, AiError.AiError> =>
  Effect.suspend(() => {
    const out: Array<{ role: string; content: string }> = []
    for (const message of prompt.content) {
      if (message.role === "system") {
        out.push({ role: "system", content: message.content })
        continue
      }
      if (message.role === "tool") return Effect.fail(unsupported("tool results"))
      const texts: Array<string> = []
      for (const part of message.content) {
        if (part.type === "text") texts.push(part.text)
        else if (part.type !== "reasoning") return Effect.fail(unsupported(`${part.type} parts`))
      }
      out.push({ role: message.role, content: texts.join("") })
    }
    return Effect.succeed(out)
  })

const unsupported = (what: string) =>
  new AiError.MalformedInput({
    module: "ChatCompletionsProvider",
    method: "request",
    description: `this chat-completions provider sends text only: ${what} are not supported`
  })

export const make = (
  client: OpenAiClient.Service,
  model: string,
  config: Readonly<Record<string, unknown>>
): Effect.Effect<LanguageModel.Service> => {
  const http = client.client.httpClient

  const body = (options: LanguageModel.ProviderOptions) =>
    Effect.gen(function*() {
      if (options.tools.length > 0) return yield* unsupported("tools")
      const messages = yield* messagesOf(options.prompt)
      const call = yield* ModelProvider.currentCall
      const format = options.responseFormat
      return {
        ...config,
        model,
        messages,
        ...(Option.isSome(call) ? { max_tokens: call.value.maxOutputTokens } : {}),
        ...(format.type === "json"
          ? {
            response_format: {
              type: "json_schema",
              json_schema: { name: format.objectName, schema: JSONSchema.make(format.schema) }
            }
          }
          : {})
      }
    })

  const mapHttpError = (method: string) => (error: unknown): Effect.Effect<never, AiError.AiError> =>
    typeof error === "object" && error !== null && "_tag" in error && error._tag === "ResponseError"
      ? AiError.HttpResponseError.fromResponseError({ module: "ChatCompletionsProvider", method, error: error as any })
      : typeof error === "object" && error !== null && "_tag" in error && error._tag === "RequestError"
      ? Effect.fail(
        AiError.HttpRequestError.fromRequestError({ module: "ChatCompletionsProvider", method, error: error as any })
      )
      : Effect.fail(
        new AiError.MalformedOutput({
          module: "ChatCompletionsProvider",
          method,
          description: "the response is not a chat completion",
          cause: error
        })
      )

  return LanguageModel.make({
    generateText: (options) =>
      Effect.gen(function*() {
        const payload = yield* body(options)
        const completion = yield* HttpClientRequest.post("/chat/completions").pipe(
          HttpClientRequest.bodyUnsafeJson({ ...payload, stream: false }),
          HttpClient.filterStatusOk(http).execute,
          Effect.flatMap(HttpClientResponse.schemaBodyJson(Completion)),
          Effect.scoped,
          Effect.catchAll(mapHttpError("generateText"))
        )
        const choice = completion.choices[0]
        const parts: Array<Response.PartEncoded> = [
          { type: "response-metadata", id: completion.id, modelId: completion.model, timestamp: undefined },
          { type: "text", text: choice?.message.content ?? "" },
          { type: "finish", reason: finishReason(choice?.finish_reason), usage: usageOf(completion.usage) }
        ]
        return parts
      }),
    streamText: (options) =>
      Stream.unwrap(Effect.map(body(options), (payload) => {
        let started = false
        let reason: string | null | undefined
        let usage: typeof Usage.Type | null | undefined
        const request = HttpClientRequest.post("/chat/completions").pipe(
          HttpClientRequest.bodyUnsafeJson({ ...payload, stream: true, stream_options: { include_usage: true } })
        )
        return client.streamRequest(request, Chunk).pipe(
          Stream.mapConcat((chunk): Array<Response.StreamPartEncoded> => {
            const out: Array<Response.StreamPartEncoded> = []
            if (!started) {
              started = true
              out.push({ type: "response-metadata", id: chunk.id, modelId: chunk.model, timestamp: undefined })
              out.push({ type: "text-start", id: "0" })
            }
            for (const choice of chunk.choices) {
              const delta = choice.delta?.content
              if (delta !== undefined && delta !== null && delta.length > 0) {
                out.push({ type: "text-delta", id: "0", delta })
              }
              if (choice.finish_reason !== undefined && choice.finish_reason !== null) reason = choice.finish_reason
            }
            if (chunk.usage !== undefined && chunk.usage !== null) usage = chunk.usage
            const error = errorOf(chunk)
            // Passed on as @effect/ai's providers pass theirs: an error part.
            if (error !== undefined) out.push({ type: "error", error })
            return out
          }),
          Stream.concat(Stream.suspend(() =>
            Stream.fromIterable<Response.StreamPartEncoded>(
              !started ? [] : [
                { type: "text-end", id: "0" },
                ...(reason === undefined
                  ? []
                  : [{ type: "finish" as const, reason: finishReason(reason), usage: usageOf(usage) }])
              ]
            )
          ))
        )
      }))
  })
}
