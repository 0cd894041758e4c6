// The exact token counter loads lazily, once per memory (its tables are
// large: seconds on a loaded machine). A caller interrupted during that load
// (its task cancelled, its lease lost) must not leave the interruption behind
// for every later caller: in the demo's chaos run that turned every step of a
// service life into "Interrupted: the fiber was interrupted".
import { assert, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as AgentMemory from "../src/AgentMemory.js"

it.effect("a buildContext interrupted while the token counter loads does not break the later ones", () =>
  Effect.gen(function*() {
    const memory = yield* AgentMemory.AgentMemory
    // The first caller starts the load and is interrupted while it runs.
    const first = yield* Effect.fork(memory.buildContext({ agent: "a", maxTokens: 100 }))
    yield* Effect.yieldNow()
    yield* Fiber.interrupt(first)
    const later = yield* Effect.exit(memory.buildContext({ agent: "a", maxTokens: 100 }))
    assert.isTrue(Exit.isSuccess(later), `the next buildContext ended with ${String(later)}`)
  }).pipe(Effect.provide(AgentMemory.layerMemory())))
