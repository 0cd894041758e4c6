// Request/response fixtures for the fake provider servers, taken from the
// providers' published API references (not shapes invented here). Where a
// variant is needed ("without usage"), it is the published example with the
// named field removed, as the fixture's name says.
//
// Sources:
// - OpenAI Responses, "Create a model response", example response:
//   https://platform.openai.com/docs/api-reference/responses/create
//   (resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b; usage 36 in, 87 out)
//   and its streaming example (resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654:
//   response.created … response.output_text.delta "Hi" … response.completed
//   with usage 37 in, 11 out; the reference elides the deltas after "Hi",
//   and so does this fixture). Each event carries its `sequence_number`, as
//   in the streaming-events reference
//   (https://platform.openai.com/docs/api-reference/responses-streaming),
//   which the create example predates; @effect/ai-openai requires it.
// - OpenAI Chat Completions, "Create chat completion", default example
//   response: https://platform.openai.com/docs/api-reference/chat/create
//   (chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT; usage 19 in, 10 out), and its
//   streaming example (chat.completion.chunk objects ending with
//   finish_reason "stop"; with stream_options.include_usage a last chunk
//   with empty choices carries usage):
//   https://platform.openai.com/docs/api-reference/chat-streaming
// - Anthropic Messages, "Create a Message", example response:
//   https://docs.anthropic.com/en/api/messages
//   (msg_013Zva2CMHLNnXjNJJKqJ2EF; usage 2095 in, 503 out), and the basic
//   streaming request of "Streaming Messages":
//   https://docs.anthropic.com/en/docs/build-with-claude/streaming
//   (message_start with 25 input tokens … message_delta with 15 output
//   tokens, message_stop)

export const responsesText =
  "In a peaceful grove beneath a silver moon, a unicorn named Lumina discovered a hidden pool that reflected the stars. As she dipped her horn into the water, the pool began to shimmer, revealing a pathway to a magical realm of endless night skies. Filled with wonder, Lumina whispered a wish for all who dream to find their own hidden magic, and as she glanced back, her hoofprints sparkled like stardust."

export const responsesCreate = {
  id: "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
  object: "response",
  created_at: 1741476542,
  status: "completed",
  error: null,
  incomplete_details: null,
  instructions: null,
  max_output_tokens: null,
  model: "gpt-4.1-2025-04-14",
  output: [
    {
      type: "message",
      id: "msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b",
      status: "completed",
      role: "assistant",
      content: [{ type: "output_text", text: responsesText, annotations: [] }]
    }
  ],
  parallel_tool_calls: true,
  previous_response_id: null,
  reasoning: { effort: null, summary: null },
  store: true,
  temperature: 1.0,
  text: { format: { type: "text" } },
  tool_choice: "auto",
  tools: [],
  top_p: 1.0,
  truncation: "disabled",
  usage: {
    input_tokens: 36,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: 87,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: 123
  },
  user: null,
  metadata: {}
}

/** The published example without its `usage` field. */
export const responsesCreateWithoutUsage = (() => {
  const { usage: _, ...rest } = responsesCreate
  return rest
})()

export const chatCompletion = {
  id: "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
  object: "chat.completion",
  created: 1741569952,
  model: "gpt-4.1-2025-04-14",
  choices: [
    {
      index: 0,
      message: { role: "assistant", content: "Hello! How can I assist you today?", refusal: null, annotations: [] },
      logprobs: null,
      finish_reason: "stop"
    }
  ],
  usage: {
    prompt_tokens: 19,
    completion_tokens: 10,
    total_tokens: 29,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0
    }
  },
  service_tier: "default"
}

/** The published example without its `usage` field (servers that report none). */
export const chatCompletionWithoutUsage = (() => {
  const { usage: _, ...rest } = chatCompletion
  return rest
})()

const chunk = (delta: Record<string, unknown>, finish: string | null) => ({
  id: "chatcmpl-123",
  object: "chat.completion.chunk",
  created: 1694268190,
  model: "gpt-4o-mini",
  system_fingerprint: "fp_44709d6fcb",
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }]
})

const sse = (events: ReadonlyArray<{ readonly event?: string; readonly data: unknown }>) =>
  events.map((e) =>
    `${e.event === undefined ? "" : `event: ${e.event}\n`}data: ${
      typeof e.data === "string" ? e.data : JSON.stringify(e.data)
    }\n\n`
  ).join("")

/** The streaming example: role, "Hello", then finish_reason "stop", then [DONE]. */
export const chatCompletionStreamWithoutUsage = sse([
  { data: chunk({ role: "assistant", content: "" }, null) },
  { data: chunk({ content: "Hello" }, null) },
  { data: chunk({}, "stop") },
  { data: "[DONE]" }
])

/** The same with stream_options.include_usage: a last chunk with no choices carries the usage. */
export const chatCompletionStreamWithUsage = sse([
  { data: chunk({ role: "assistant", content: "" }, null) },
  { data: chunk({ content: "Hello" }, null) },
  { data: chunk({}, "stop") },
  {
    data: {
      id: "chatcmpl-123",
      object: "chat.completion.chunk",
      created: 1694268190,
      model: "gpt-4o-mini",
      system_fingerprint: "fp_44709d6fcb",
      choices: [],
      usage: { prompt_tokens: 9, completion_tokens: 12, total_tokens: 21 }
    }
  },
  { data: "[DONE]" }
])

export const anthropicMessage = {
  content: [{ text: "Hi! My name is Claude.", type: "text" }],
  id: "msg_013Zva2CMHLNnXjNJJKqJ2EF",
  model: "claude-3-5-sonnet-20240620",
  role: "assistant",
  stop_reason: "end_turn",
  stop_sequence: null,
  type: "message",
  usage: { input_tokens: 2095, output_tokens: 503 }
}

/**
 * The published example with prompt caching: its usage's documented
 * `cache_creation_input_tokens` and `cache_read_input_tokens` set (each
 * counted apart from `input_tokens`).
 */
export const anthropicMessageCached = {
  ...anthropicMessage,
  usage: { input_tokens: 2095, output_tokens: 503, cache_creation_input_tokens: 1000, cache_read_input_tokens: 500 }
}

export const anthropicStream = sse([
  {
    event: "message_start",
    data: {
      type: "message_start",
      message: {
        id: "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",
        type: "message",
        role: "assistant",
        content: [],
        model: "claude-3-5-sonnet-20241022",
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 25, output_tokens: 1 }
      }
    }
  },
  {
    event: "content_block_start",
    data: { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }
  },
  { event: "ping", data: { type: "ping" } },
  {
    event: "content_block_delta",
    data: { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hello" } }
  },
  {
    event: "content_block_delta",
    data: { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "!" } }
  },
  { event: "content_block_stop", data: { type: "content_block_stop", index: 0 } },
  {
    event: "message_delta",
    data: {
      type: "message_delta",
      delta: { stop_reason: "end_turn", stop_sequence: null },
      usage: { output_tokens: 15 }
    }
  },
  { event: "message_stop", data: { type: "message_stop" } }
])

const responseBase = {
  id: "resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654",
  object: "response",
  created_at: 1741290958,
  error: null,
  incomplete_details: null,
  instructions: "You are a helpful assistant.",
  max_output_tokens: null,
  model: "gpt-4.1-2025-04-14",
  parallel_tool_calls: true,
  previous_response_id: null,
  reasoning: { effort: null, summary: null },
  store: true,
  temperature: 1.0,
  text: { format: { type: "text" } },
  tool_choice: "auto",
  tools: [],
  top_p: 1.0,
  truncation: "disabled",
  user: null,
  metadata: {}
}
const itemId = "msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654"
const doneText = "Hi there! How can I assist you today?"
const doneItem = {
  id: itemId,
  type: "message",
  status: "completed",
  role: "assistant",
  content: [{ type: "output_text", text: doneText, annotations: [] }]
}

const numbered = (events: ReadonlyArray<{ readonly event: string; readonly data: Record<string, unknown> }>) =>
  events.map((e, i) => ({ event: e.event, data: { ...e.data, sequence_number: i } }))

export const responsesStream = sse(numbered([
  {
    event: "response.created",
    data: { type: "response.created", response: { ...responseBase, status: "in_progress", output: [], usage: null } }
  },
  {
    event: "response.in_progress",
    data: {
      type: "response.in_progress",
      response: { ...responseBase, status: "in_progress", output: [], usage: null }
    }
  },
  {
    event: "response.output_item.added",
    data: {
      type: "response.output_item.added",
      output_index: 0,
      item: { id: itemId, type: "message", status: "in_progress", role: "assistant", content: [] }
    }
  },
  {
    event: "response.content_part.added",
    data: {
      type: "response.content_part.added",
      item_id: itemId,
      output_index: 0,
      content_index: 0,
      part: { type: "output_text", text: "", annotations: [] }
    }
  },
  {
    event: "response.output_text.delta",
    data: { type: "response.output_text.delta", item_id: itemId, output_index: 0, content_index: 0, delta: "Hi" }
  },
  {
    event: "response.output_text.done",
    data: { type: "response.output_text.done", item_id: itemId, output_index: 0, content_index: 0, text: doneText }
  },
  {
    event: "response.content_part.done",
    data: {
      type: "response.content_part.done",
      item_id: itemId,
      output_index: 0,
      content_index: 0,
      part: { type: "output_text", text: doneText, annotations: [] }
    }
  },
  { event: "response.output_item.done", data: { type: "response.output_item.done", output_index: 0, item: doneItem } },
  {
    event: "response.completed",
    data: {
      type: "response.completed",
      response: {
        ...responseBase,
        status: "completed",
        output: [doneItem],
        usage: {
          input_tokens: 37,
          // Added: the usage object of the create example and of the
          // streaming-events reference has it; this older example omits it,
          // and @effect/ai-openai's schema requires it.
          input_tokens_details: { cached_tokens: 0 },
          output_tokens: 11,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: 48
        }
      }
    }
  }
]))

/** The streaming example cut before response.completed: no usage reaches the client. */
export const responsesStreamWithoutUsage = responsesStream.slice(
  0,
  responsesStream.indexOf("event: response.completed")
)

/** The streaming example cut before message_delta: the output usage never arrives. */
export const anthropicStreamWithoutUsage = anthropicStream.slice(0, anthropicStream.indexOf("event: message_delta"))

/**
 * An error in the event stream, as "Streaming Messages" documents it
 * ("Error events": during high usage an `overloaded_error` may arrive in the
 * stream after a 200): the basic example's first text delta, then that
 * documented error event, then the connection ends.
 */
export const anthropicStreamOverloaded = anthropicStream.slice(
  0,
  anthropicStream.indexOf("event: content_block_delta", anthropicStream.indexOf("text_delta") + 1)
) + sse([{ event: "error", data: { type: "error", error: { type: "overloaded_error", message: "Overloaded" } } }])

/**
 * An error sent inside a chat-completions stream after its 200: the
 * streaming example's first two chunks, then a chunk that is only an error
 * object in the shape of the API reference's error object (`message`,
 * `type`, `param`, `code`), as OpenAI, SGLang and OpenRouter send one
 * mid-stream; the connection then ends, without `[DONE]`.
 */
export const chatCompletionStreamWithError = chatCompletionStreamWithoutUsage.split("\n\n").slice(0, 2).join("\n\n") +
  "\n\n" +
  sse([{
    data: {
      error: {
        message: "The server had an error while processing your request. Sorry about that!",
        type: "server_error",
        param: null,
        code: null
      }
    }
  }])

/** The same documented error event, right after the basic example's `message_start`: nothing delivered. */
export const anthropicStreamOverloadedAtStart =
  anthropicStream.slice(0, anthropicStream.indexOf("event: content_block_start")) +
  sse([{ event: "error", data: { type: "error", error: { type: "overloaded_error", message: "Overloaded" } } }])
