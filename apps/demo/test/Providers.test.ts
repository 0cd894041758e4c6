// A real provider path: with OPENAI_BASE_URL the team's model calls go to an
// OpenAI-compatible chat-completions server (here a local fake one).
import { Backends } from "@agentos/testkit"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, LogLevel, Option } from "effect"
import * as Http from "node:http"
import { describeProviders } from "../src/Models.js"
import { client, config, eventually, start } from "./harness.js"

const chatServer = Effect.acquireRelease(
  Effect.async<{ readonly url: string; readonly requests: Array<any>; readonly server: Http.Server }>((resume) => {
    const requests: Array<any> = []
    const server = Http.createServer((req, res) => {
      let body = ""
      req.on("data", (chunk) => (body += chunk))
      req.on("end", () => {
        const request = JSON.parse(body)
        requests.push({ path: req.url, authorization: req.headers.authorization, body: request })
        res.setHeader("content-type", "application/json")
        res.end(JSON.stringify({
          id: `chatcmpl-${requests.length}`,
          object: "chat.completion",
          created: 1_800_000_000,
          model: request.model,
          choices: [{
            index: 0,
            message: { role: "assistant", content: `answer ${requests.length}` },
            finish_reason: "stop"
          }],
          usage: { prompt_tokens: 120, completion_tokens: 80, total_tokens: 200 }
        }))
      })
    })
    server.listen(0, "127.0.0.1", () =>
      resume(Effect.succeed({
        url: `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`,
        requests,
        server
      })))
  }),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
)

describe("demo service: providers", () => {
  it.live("OPENAI_BASE_URL sends every model call to an OpenAI-compatible server", () =>
    Effect.gen(function*() {
      const chat = yield* chatServer
      const c = config({
        openAiBaseUrl: Option.some(chat.url),
        openAiModel: Option.some("llama3.1")
      })
      assert.include(describeProviders(c), "openai-compatible")
      const { base } = yield* start(c, Backends.sqlite())
      const http = client(base)
      const id: string = (yield* http.request("POST", "/workflows", { body: { topic: "local models" } })).body.id
      const task = yield* eventually(
        Effect.map(http.request("GET", `/tasks/${id}`), (r) => r.body?.status === "accepted" ? undefined : r.body)
      )
      assert.strictEqual(task.status, "completed", JSON.stringify(task))
      assert.strictEqual(chat.requests.length, 4)
      for (const request of chat.requests) {
        assert.strictEqual(request.path, "/v1/chat/completions")
        assert.strictEqual(request.body.model, "llama3.1")
        assert.isAbove(request.body.max_tokens ?? request.body.max_completion_tokens, 0)
      }
      // The provider's reported usage is what the budget was charged: 4 calls of 120 + 80 tokens.
      const budget = (yield* http.request("GET", "/budget")).body
      assert.strictEqual(budget.used, 4 * 200)
      const workflow = (yield* http.request("GET", `/workflows/${id}`)).body
      assert.include(workflow.state.report, "answer 4")
    }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.None)), { timeout: 30_000 })
})
