// The options' defaults and their validation: a layer whose options are not
// valid fails with InvalidOptions when it is built, before it opens anything.
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { InvalidInput, InvalidOptions } from "../Errors.js"
import type * as WorkflowEngine from "../WorkflowEngine.js"

/** The engine's options, checked, in milliseconds. */
export interface EngineSettings {
  readonly ttlMillis: number
  readonly heartbeatMillis: number
  readonly holder: string | undefined
}

const millisOf = (input: Duration.DurationInput | undefined, fallback: Duration.DurationInput): number | undefined => {
  const decoded = Duration.decodeUnknown(input ?? fallback)
  return Option.isSome(decoded) ? Duration.toMillis(decoded.value) : undefined
}

/**
 * The engine's options. A heartbeat at or past the lease's ttl would let the
 * lease expire between renewals while a step runs, so another runner could
 * take it over: refused.
 */
export const engine = (options: WorkflowEngine.Options): Effect.Effect<EngineSettings, InvalidOptions> =>
  Effect.suspend(() => {
    const ttlMillis = millisOf(options.leaseTtl, "30 seconds")
    if (ttlMillis === undefined || !Number.isFinite(ttlMillis) || ttlMillis < 2) {
      return Effect.fail(
        new InvalidOptions({ message: "WorkflowEngine: leaseTtl must be a finite duration of at least 2 ms" })
      )
    }
    const heartbeatMillis = options.heartbeat === undefined
      ? Math.max(1, Math.floor(ttlMillis / 3))
      : millisOf(options.heartbeat, 0)
    if (
      heartbeatMillis === undefined || !Number.isFinite(heartbeatMillis) || heartbeatMillis < 1 ||
      heartbeatMillis >= ttlMillis
    ) {
      return Effect.fail(
        new InvalidOptions({
          message: `WorkflowEngine: heartbeat must be at least 1 ms and shorter than leaseTtl (${ttlMillis} ms), ` +
            `or the lease expires between renewals`
        })
      )
    }
    if (options.holder !== undefined && (typeof options.holder !== "string" || options.holder.length === 0)) {
      return Effect.fail(new InvalidOptions({ message: "WorkflowEngine: holder must be a non-empty string" }))
    }
    return Effect.succeed({ ttlMillis: Math.round(ttlMillis), heartbeatMillis, holder: options.holder })
  })

/** The directory of the file-system store: a non-empty string. */
export const fileSystem = (options: { readonly directory: string }): Effect.Effect<string, InvalidOptions> =>
  typeof options?.directory === "string" && options.directory.trim().length > 0
    ? Effect.succeed(options.directory)
    : Effect.fail(
      new InvalidOptions({ message: "CheckpointStore.layerFileSystem: directory must be a non-empty path" })
    )

/** The longest `onBusy: "wait"` waits: `waitTimeout`, default 5 minutes. */
export const waitLimit = (
  runOptions: WorkflowEngine.RunOptions
): Effect.Effect<Duration.Duration, InvalidInput> => {
  const limit = Duration.decodeUnknown(runOptions.waitTimeout ?? "5 minutes")
  return Option.isSome(limit) ? Effect.succeed(limit.value) : Effect.fail(
    new InvalidInput({
      message: `waitTimeout is not a duration: ${JSON.stringify(String(runOptions.waitTimeout))}`
    })
  )
}
