// The README's example: dead-letter a failed task, replay it with a patch.
import { DeadLetterQueue, Redaction } from "@agentos/dlq"
import * as Effect from "effect/Effect"

export const program = Effect.gen(function*() {
  const dlq = yield* DeadLetterQueue.DeadLetterQueue
  const { letter } = yield* dlq.add({
    taskType: "search",
    taskId: "task-42",
    attempts: 3,
    payload: { query: "effect dead letters", apiKey: "sk-live0123456789abcdefgh", timeoutMs: 5_000 },
    error: { tag: "Timeout", message: "the search provider timed out" },
    firstAttemptAt: Date.parse("2026-11-25T10:00:00Z"),
    lastAttemptAt: Date.parse("2026-11-25T10:01:00Z")
  })
  // Found the bug? Replay with a patched payload; the letter is resolved on success.
  const outcome = yield* dlq.replay(letter.id, (payload) => Effect.succeed({ searched: payload }), {
    modify: (payload) => ({ ...(payload as object), timeoutMs: 30_000 })
  })
  return { outcome, summary: yield* dlq.summary() }
})

export const main = program.pipe(
  Effect.provide(DeadLetterQueue.layerMemory({ redact: Redaction.make(), maxPayloadBytes: 64 * 1024 }))
)
