// Traced methods: each named method of a service becomes
// `Effect.fn("<Service>.<method>")`, a span per call named after it.
import * as Effect from "effect/Effect"
import type * as Tracer from "effect/Tracer"
import type { CheckpointStoreService } from "../CheckpointStore.js"

/** `service` with the methods `names` traced as `<prefix>.<name>`; the others as they are. */
export const traced = <S extends object>(
  prefix: string,
  service: S,
  names: ReadonlyArray<keyof S & string>,
  options?: Tracer.SpanOptions
): S => {
  const result: Record<string, unknown> = { ...(service as Record<string, unknown>) }
  for (const name of names) {
    const method = service[name] as (...args: Array<any>) => Effect.Effect<unknown, unknown, unknown>
    result[name] = Effect.fn(`${prefix}.${name}`, options)((...args: Array<any>) => method(...args))
  }
  return result as S
}

/**
 * The store's traced methods. `save` (once per step) and `acquireAndCreate`
 * (once per new workflow) are left untraced: they are the hot path of every
 * run, already covered by the run's span (`WorkflowEngine.execute`), and on
 * SQL each of their statements has @effect/sql's own span. Measured with
 * bench/spans.ts (a ten-step no-op workflow on the memory store, same
 * process, alternated rounds, 2026-12-06 on a shared 2-core machine): with
 * `save` traced, the fastest round took 559 µs per workflow against 290 µs
 * without (about 27 µs a step, more than the step itself; 488 µs without
 * stack traces); `acquireAndCreate`'s span added 10–57 µs per workflow
 * (about two no-op steps).
 */
export const storeMethods: ReadonlyArray<keyof CheckpointStoreService> = [
  "acquire",
  "renew",
  "release",
  "requestCancel",
  "load",
  "list",
  "prune"
]

/** A store with its methods traced as `CheckpointStore.<method>` (see `storeMethods`). */
export const store = (
  service: CheckpointStoreService,
  methods: ReadonlyArray<keyof CheckpointStoreService> = storeMethods,
  options?: Tracer.SpanOptions
): CheckpointStoreService => traced("CheckpointStore", service, methods, options)
