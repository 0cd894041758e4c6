// The supervisor's options: defaults and validation (InvalidOptions when the
// layer is built).
import type * as AdmissionPolicy from "@agentos/core/AdmissionPolicy"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { InvalidOptions } from "../Errors.js"
import type * as Supervisor from "../Supervisor.js"
import type * as Task from "../Task.js"
import type * as TaskQueue from "../TaskQueue.js"

export interface Resolved {
  readonly types: ReadonlyArray<Task.TaskType<any, any>>
  readonly workers: ReadonlyArray<Task.Worker>
  readonly maxQueued: number
  readonly groupLimits: TaskQueue.GroupLimits
  readonly admission: ReadonlyArray<AdmissionPolicy.AdmissionPolicyService>
  readonly circuit: {
    readonly windowSize: number
    readonly minimumCalls: number
    readonly errorRateThreshold: number
    readonly cooldownMillis: number
  }
  readonly results: { readonly maxCount: number; readonly retentionMillis: number }
  readonly shutdown: { readonly mode: "drain" | "cancel" | "handBack"; readonly timeoutMillis: number }
  readonly queueSaturatedAfterMillis: number
  readonly tracing: boolean
  readonly shared: Shared | undefined
}

export interface Shared {
  readonly leaseMillis: number
  readonly renewMillis: number
  readonly pollMillis: number
  readonly maxDeliveries: number
  readonly holder: string
}

export const defaults = {
  maxQueued: 1_000,
  windowSize: 20,
  minimumCalls: 5,
  errorRateThreshold: 0.5,
  cooldown: Duration.seconds(30),
  maxResults: 10_000,
  retention: Duration.hours(1),
  shutdownTimeout: Duration.seconds(30),
  queueSaturatedAfter: Duration.seconds(10),
  lease: Duration.seconds(30),
  pollInterval: Duration.seconds(1),
  maxDeliveries: 3
} as const

const positiveInt = (value: number | undefined, name: string, fallback: number): number => {
  const resolved = value ?? fallback
  if (!Number.isSafeInteger(resolved) || resolved < 1) {
    throw new InvalidOptions({ message: `${name} must be a positive integer, got ${String(value)}` })
  }
  return resolved
}

const millis = (value: Duration.DurationInput | undefined, name: string, fallback: Duration.Duration): number => {
  const decoded = Duration.decodeUnknown(value ?? fallback)
  if (decoded._tag === "None" || !Duration.isFinite(decoded.value)) {
    throw new InvalidOptions({ message: `${name} must be a finite duration, got ${String(value)}` })
  }
  return Duration.toMillis(decoded.value)
}

const resolveShared = (shared: NonNullable<Supervisor.Options["shared"]>): Shared => {
  const leaseMillis = Math.round(millis(shared.lease, "shared.lease", defaults.lease))
  if (leaseMillis < 30) throw new InvalidOptions({ message: `shared.lease must be at least 30 ms, got ${leaseMillis}` })
  const pollMillis = Math.round(millis(shared.pollInterval, "shared.pollInterval", defaults.pollInterval))
  if (pollMillis < 1) throw new InvalidOptions({ message: "shared.pollInterval must be at least 1 ms" })
  // A holder names one process among many, so it must not repeat: a random
  // UUID from the platform's generator (no determinism is wanted here, so
  // not Effect's Random, which a test or an application may seed).
  const holder = shared.holder ?? `supervisor-${process.pid}-${globalThis.crypto.randomUUID()}`
  if (typeof holder !== "string" || holder === "") {
    throw new InvalidOptions({ message: "shared.holder must be a non-empty string" })
  }
  return {
    leaseMillis,
    renewMillis: Math.max(10, Math.floor(leaseMillis / 3)),
    pollMillis,
    maxDeliveries: positiveInt(shared.maxDeliveries, "shared.maxDeliveries", defaults.maxDeliveries),
    holder
  }
}

export const resolve = (options: Supervisor.Options): Effect.Effect<Resolved, InvalidOptions> =>
  Effect.try({
    try: (): Resolved => {
      const names = new Set<string>()
      for (const type of options.types) {
        if (typeof type.name !== "string" || type.name === "") {
          throw new InvalidOptions({ message: "a task type needs a non-empty name" })
        }
        if (names.has(type.name)) throw new InvalidOptions({ message: `task type "${type.name}" is registered twice` })
        names.add(type.name)
        if (type.maxQueued !== undefined) positiveInt(type.maxQueued, `maxQueued of "${type.name}"`, 1)
        if (!Duration.isFinite(type.timeout) || Duration.toMillis(type.timeout) <= 0) {
          throw new InvalidOptions({ message: `the timeout of "${type.name}" must be a positive, finite duration` })
        }
      }
      const limits = options.groupLimits ?? {}
      if (limits.default !== undefined) positiveInt(limits.default, "groupLimits.default", 1)
      for (const [key, limit] of Object.entries(limits.byGroup ?? {})) {
        positiveInt(limit, `groupLimits.byGroup["${key}"]`, 1)
      }
      const threshold = options.circuit?.errorRateThreshold ?? defaults.errorRateThreshold
      if (!(threshold > 0 && threshold < 1)) {
        throw new InvalidOptions({ message: `circuit.errorRateThreshold must be between 0 and 1, got ${threshold}` })
      }
      const windowSize = positiveInt(options.circuit?.windowSize, "circuit.windowSize", defaults.windowSize)
      const minimumCalls = positiveInt(options.circuit?.minimumCalls, "circuit.minimumCalls", defaults.minimumCalls)
      if (minimumCalls > windowSize) {
        throw new InvalidOptions({ message: "circuit.minimumCalls cannot exceed circuit.windowSize" })
      }
      const mode = options.shutdown?.mode ?? "drain"
      if (mode !== "drain" && mode !== "cancel" && mode !== "handBack") {
        throw new InvalidOptions({
          message: `shutdown.mode must be "drain", "cancel" or "handBack", got ${String(mode)}`
        })
      }
      if (mode === "handBack" && options.shared === undefined) {
        throw new InvalidOptions({
          message: `shutdown.mode "handBack" needs a shared queue (the shared option, or Supervisor.layerSql): ` +
            "without it the tasks' lives are kept in this process's memory and nobody would take them back"
        })
      }
      return {
        types: options.types,
        workers: options.workers ?? [],
        maxQueued: positiveInt(options.maxQueued, "maxQueued", defaults.maxQueued),
        groupLimits: limits,
        admission: options.admission ?? [],
        circuit: {
          windowSize,
          minimumCalls,
          errorRateThreshold: threshold,
          cooldownMillis: millis(options.circuit?.cooldown, "circuit.cooldown", defaults.cooldown)
        },
        results: {
          maxCount: positiveInt(options.results?.maxCount, "results.maxCount", defaults.maxResults),
          retentionMillis: millis(options.results?.retention, "results.retention", defaults.retention)
        },
        shutdown: {
          mode,
          timeoutMillis: millis(options.shutdown?.timeout, "shutdown.timeout", defaults.shutdownTimeout)
        },
        queueSaturatedAfterMillis: millis(
          options.queueSaturatedAfter,
          "queueSaturatedAfter",
          defaults.queueSaturatedAfter
        ),
        tracing: options.tracing ?? true,
        shared: options.shared === undefined ? undefined : resolveShared(options.shared)
      }
    },
    catch: (error) => error instanceof InvalidOptions ? error : new InvalidOptions({ message: String(error) })
  })
