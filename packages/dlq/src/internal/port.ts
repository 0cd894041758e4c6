// Core's DeadLetters port over a queue: the port's input is checked against
// core's schema, sent with `add` (idempotent by the same key), and the
// queue's errors are mapped to DeadLetterRejected reasons.
import * as DeadLetters from "@agentos/core/DeadLetters"
import type { LetterId } from "@agentos/core/Ids"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as DeadLetterQueue from "../DeadLetterQueue.js"

const rejected = (reason: DeadLetters.DeadLetterRejected["reason"], message: string) =>
  new DeadLetters.DeadLetterRejected({ reason, message })

const validateInput = Schema.validate(DeadLetters.DeadLetterInput)

export const make = (queue: DeadLetterQueue.DeadLetterQueueService): DeadLetters.DeadLettersService => ({
  send: (input) =>
    validateInput(input).pipe(
      Effect.mapError((error) => rejected("invalid", error.message)),
      Effect.flatMap((valid) =>
        queue.add({
          source: valid.source,
          taskType: valid.taskType,
          ...(valid.taskId === undefined ? {} : { taskId: valid.taskId }),
          ...(valid.workflow === undefined ? {} : { workflow: valid.workflow }),
          ...(valid.agent === undefined ? {} : { agent: valid.agent }),
          ...(valid.context === undefined ? {} : { context: valid.context }),
          attempt: valid.attempt,
          attempts: valid.attempts,
          payload: valid.payload,
          error: valid.error,
          firstAttemptAt: valid.firstAttemptAt,
          lastAttemptAt: valid.lastAttemptAt
        })
      ),
      Effect.map((added): DeadLetters.DeadLetterReceipt => ({
        letterId: added.letter.id as LetterId,
        duplicate: added.duplicate
      })),
      Effect.catchTags({
        InvalidInput: (error) => Effect.fail(rejected("invalid", error.message)),
        PayloadTooLarge: (error) => Effect.fail(rejected("payload-too-large", error.message)),
        QueueFull: (error) => Effect.fail(rejected("queue-full", error.message)),
        StoreError: (error) => Effect.fail(rejected("store", error.message))
      })
    )
})
