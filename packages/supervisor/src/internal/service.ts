// The supervisor's rules, written once over the TaskQueue contract:
// validation and admission at submit, event-driven dispatch to the
// least-loaded capable worker, timeouts, retries, dead letters, circuit
// breakers, grant settlement, results kept for a bounded time and count,
// and shutdown.
import * as AdmissionPolicy from "@agentos/core/AdmissionPolicy"
import * as DeadLetters from "@agentos/core/DeadLetters"
import * as Failure from "@agentos/core/Failure"
import * as IdGenerator from "@agentos/core/IdGenerator"
import * as Ids from "@agentos/core/Ids"
import * as TokenUsage from "@agentos/core/TokenUsage"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as PubSub from "effect/PubSub"
import * as Runtime from "effect/Runtime"
import type * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleIntervals from "effect/ScheduleIntervals"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import {
  Backpressure,
  InvalidInput,
  InvalidOptions,
  InvalidPayload,
  SupervisorClosed,
  TaskCancelled,
  TaskDeadLettered,
  type TaskError,
  TaskFailed,
  TaskNotFound,
  TaskTimeout,
  UnknownTaskType
} from "../Errors.js"
import type * as Supervisor from "../Supervisor.js"
import * as Task from "../Task.js"
import type * as TaskQueue from "../TaskQueue.js"
import * as Metrics from "./metrics.js"
import * as Options from "./options.js"
import { Pulse } from "./pulse.js"
import * as Timeouts from "./timeouts.js"

interface TypeEntry {
  readonly spec: Task.TaskType<any, any>
  readonly name: string
  readonly maxQueued: number
  readonly timeoutMillis: number
  readonly decode: (input: unknown) => Either.Either<unknown, ParseResult.ParseError>
  readonly encodeResult: (value: unknown) => Either.Either<unknown, ParseResult.ParseError>
  readonly labels: ReturnType<typeof Metrics.typeLabels>
  /** Workers taking this type (removed workers leave the list). */
  readonly workers: Array<WorkerState>
  /** Queued tasks of this type (what the queue holds). */
  queued: number
  /** Fired when a queued task of this type leaves the queue (room for `submitWait`). */
  readonly space: Pulse
  /** Bumped when the queue becomes full or stops being full; the saturation timer compares it. */
  fullEpoch: number
  fullSince: number | undefined
}

interface WorkerState {
  readonly spec: Task.Worker
  readonly types: ReadonlyArray<TypeEntry>
  inFlight: number
  completed: number
  errors: number
  latencyTotal: number
  attemptsFinished: number
  removing: boolean
  circuit: Task.CircuitState
  /** Ring of the last outcomes (true: failure). */
  readonly window: Array<boolean>
  windowNext: number
  windowFailures: number
}

interface TaskState {
  readonly record: Task.TaskRecord
  readonly type: TypeEntry
  readonly payload: unknown
  status: Task.TaskStatus
  readonly deferred: Deferred.Deferred<unknown, TaskError>
  exit: Exit.Exit<unknown, TaskError> | undefined
  attempts: number
  firstAttemptAt: number
  lastAttemptAt: number
  usage: TokenUsage.TokenUsage | undefined
  grantSettled: boolean
  fiber: Fiber.RuntimeFiber<void> | undefined
  /** Set by `cancel` or a cancelling shutdown; the run ends as cancelled. */
  cancelled: "cancelled" | "shutdown" | undefined
  /** The retry schedule's state, from the first failure on. */
  retryState: { readonly schedule: Schedule.Schedule<unknown, unknown>; state: unknown } | undefined
  /** The pending retry while `retrying`. */
  retryAt: Timeouts.Deadline | undefined
  /** The attempt's handler is running (a timeout may interrupt it). */
  inHandler: boolean
  timedOut: boolean
  encodedResult: unknown
  finishedAt: number
  handle: Task.TaskHandle<unknown> | undefined
}

export const make = (
  options: Supervisor.Options,
  queue: TaskQueue.TaskQueueService
): Effect.Effect<Supervisor.SupervisorService, InvalidOptions, Scope.Scope> =>
  Effect.gen(function*() {
    const config = yield* Options.resolve(options)
    const ids = Option.getOrElse(yield* Effect.serviceOption(IdGenerator.IdGenerator), () => IdGenerator.makeUlid)
    const deadLetters = yield* Effect.serviceOption(DeadLetters.DeadLetters)
    const providedPolicy = yield* Effect.serviceOption(AdmissionPolicy.AdmissionPolicy)
    const policies = Option.isSome(providedPolicy) ? [...config.admission, providedPolicy.value] : config.admission
    const admission = policies.length === 0
      ? undefined
      : policies.length === 1
      ? policies[0]!
      : AdmissionPolicy.all(policies)
    const events = yield* PubSub.sliding<Task.SupervisorEvent>(1024)
    // The clock of the layer's fiber (TestClock under tests), read without a
    // step on the dispatch path.
    const clock = yield* Effect.clock
    // Task and timer fibers start from the runtime the layer was built in,
    // not from the fiber that happens to dispatch them: a fiber forked from a
    // fiber inherits its parent's FiberRef stacks, so forking each task from
    // the previous one grew them with every generation.
    const runtime = yield* Effect.runtime<never>()
    const fork = <A>(effect: Effect.Effect<A>): Fiber.RuntimeFiber<A> =>
      // Not `immediate`: a fork from inside a running fiber must not run the
      // child on the parent's stack (it stalled the scheduler under load).
      Runtime.runFork(runtime)(Effect.interruptible(effect), { immediate: false })
    const timeouts = Timeouts.make(fork)
    const limits = config.groupLimits

    const types = new Map<string, TypeEntry>()
    for (const spec of config.types) {
      types.set(spec.name, {
        spec,
        name: spec.name,
        maxQueued: spec.maxQueued ?? config.maxQueued,
        timeoutMillis: Duration.toMillis(spec.timeout),
        decode: Schema.decodeUnknownEither(spec.payload as Schema.Schema<unknown, unknown>),
        encodeResult: Schema.encodeEither(spec.result as Schema.Schema<unknown, unknown>),
        labels: Metrics.typeLabels(spec.name),
        workers: [],
        queued: 0,
        space: new Pulse(),
        fullEpoch: 0,
        fullSince: undefined
      })
      Metrics.queueDepth.unsafeUpdate(0, types.get(spec.name)!.labels)
    }
    const workers = new Map<string, WorkerState>()
    const active = new Map<string, TaskState>()
    const retained = new Map<string, TaskState>()
    const byKey = new Map<string, TaskState>()
    const timers = new Set<Fiber.RuntimeFiber<unknown, unknown>>()
    const idle = new Pulse()
    const settled = new Pulse()
    let closed = false
    let runningCount = 0
    let totalSlots = 0
    let usedSlots = 0

    const publish = (event: Task.SupervisorEvent) => PubSub.publish(events, event)

    const systemLoad = () => totalSlots === 0 ? 1 : Math.min(1, usedSlots / totalSlots)
    const updateLoad = () => {
      Metrics.load.unsafeUpdate(systemLoad(), Metrics.noLabels)
      Metrics.running.unsafeUpdate(runningCount, Metrics.noLabels)
    }

    // Tracked background fibers (circuit cooldowns, saturation alarms),
    // interrupted at shutdown.
    const startTimer = (effect: Effect.Effect<void>) =>
      Effect.sync(() => {
        const fiber = fork(effect)
        timers.add(fiber)
        fiber.addObserver(() => timers.delete(fiber))
      })

    // ---- workers and circuits ----

    const freeSlots = (worker: WorkerState): number =>
      worker.removing || worker.circuit === "open"
        ? 0
        : worker.circuit === "half-open"
        ? (worker.inFlight === 0 ? 1 : 0)
        : worker.spec.maxConcurrent - worker.inFlight

    const pickWorker = (type: TypeEntry): WorkerState | undefined => {
      let best: WorkerState | undefined
      let bestLoad = Infinity
      for (const worker of type.workers) {
        if (freeSlots(worker) <= 0) continue
        const load = worker.inFlight / worker.spec.maxConcurrent
        if (load < bestLoad) {
          best = worker
          bestLoad = load
        }
      }
      return best
    }

    const openCircuit = (worker: WorkerState, errorRate: number) =>
      Effect.gen(function*() {
        worker.circuit = "open"
        Metrics.circuitOpened.unsafeUpdate(1, Metrics.label("worker", worker.spec.name))
        yield* publish({ _tag: "CircuitOpened", worker: worker.spec.name, errorRate })
        yield* startTimer(
          Effect.gen(function*() {
            yield* Effect.sleep(Duration.millis(config.circuit.cooldownMillis))
            if (worker.circuit !== "open" || worker.removing) return
            worker.circuit = "half-open"
            yield* publish({ _tag: "CircuitHalfOpen", worker: worker.spec.name })
            yield* dispatchWorker(worker)
          })
        )
      })

    const resetWindow = (worker: WorkerState) => {
      worker.window.length = 0
      worker.windowNext = 0
      worker.windowFailures = 0
    }

    const record = (worker: WorkerState, failed: boolean, trial: boolean): Effect.Effect<void> => {
      const size = config.circuit.windowSize
      if (worker.window.length < size) {
        worker.window.push(failed)
      } else {
        if (worker.window[worker.windowNext]) worker.windowFailures--
        worker.window[worker.windowNext] = failed
        worker.windowNext = (worker.windowNext + 1) % size
      }
      if (failed) worker.windowFailures++
      if (trial && worker.circuit === "half-open") {
        if (failed) return openCircuit(worker, worker.windowFailures / worker.window.length)
        worker.circuit = "closed"
        resetWindow(worker)
        return publish({ _tag: "CircuitClosed", worker: worker.spec.name })
      }
      if (
        failed && worker.circuit === "closed" && worker.window.length >= config.circuit.minimumCalls &&
        worker.windowFailures / worker.window.length > config.circuit.errorRateThreshold
      ) {
        return openCircuit(worker, worker.windowFailures / worker.window.length)
      }
      return Effect.void
    }

    // ---- dispatch ----

    const onQueueShrank = (type: TypeEntry) => {
      type.queued--
      Metrics.queueDepth.unsafeUpdate(type.queued, type.labels)
      if (type.fullSince !== undefined && type.queued < type.maxQueued) {
        type.fullSince = undefined
        type.fullEpoch++
      }
      type.space.fire()
    }

    // Starts queued tasks of `type` while a capable worker has a free slot.
    // The slot is reserved before the queue is asked, so concurrent
    // dispatches never overfill a worker.
    const dispatch = (type: TypeEntry): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (type.queued === 0) return Effect.void
        const worker = pickWorker(type)
        if (worker === undefined) return Effect.void
        const trial = worker.circuit === "half-open"
        worker.inFlight++
        usedSlots++
        return Effect.flatMap(
          Effect.orDie(queue.take(type.name, limits)),
          (taken): Effect.Effect<void> => {
            if (Option.isNone(taken)) {
              worker.inFlight--
              usedSlots--
              return Effect.void
            }
            onQueueShrank(type)
            const state = active.get(taken.value.id)
            if (state === undefined) {
              // Not ours to run (cannot happen in one process: cancel removes first).
              worker.inFlight--
              usedSlots--
              return Effect.zipRight(Effect.orDie(queue.finish(taken.value.id)), dispatch(type))
            }
            runningCount++
            updateLoad()
            state.status = "running"
            state.fiber = fork(run(state, worker, trial))
            return dispatch(type)
          }
        )
      })

    const dispatchWorker = (worker: WorkerState) =>
      worker.types.length === 1
        ? dispatch(worker.types[0]!)
        : Effect.forEach(worker.types, dispatch, { discard: true })

    const dispatchAll = Effect.suspend(() => Effect.forEach(types.values(), dispatch, { discard: true }))

    // ---- running a task ----

    const context = (state: TaskState, worker: WorkerState): Task.TaskContext => ({
      taskId: state.record.id,
      taskType: state.type.name,
      attempt: state.attempts,
      agentId: state.record.agentId,
      groupKey: state.record.groupKey,
      worker: worker.spec.name,
      reportUsage: (usage) =>
        Effect.sync(() => {
          state.usage = state.usage === undefined ? usage : TokenUsage.add(state.usage, usage)
        })
    })

    const attempt = (state: TaskState, worker: WorkerState) => {
      const handler = Effect.suspend(() => worker.spec.handler(state.payload, context(state, worker)))
      if (!config.tracing) return handler
      const trace = state.record.trace
      return Effect.withSpan(handler, "Supervisor.task", {
        attributes: { "task.id": state.record.id, "task.type": state.type.name, "task.attempt": state.attempts },
        captureStackTrace: false,
        ...(trace === undefined ? {} : { parent: Tracer.externalSpan(trace) })
      })
    }

    // One attempt on `worker`, then what follows: completion, a retry (its
    // delay is a timer; the slot is given back at once), or the final
    // failure. Uninterruptible but for the handler, which a timeout or a
    // cancel interrupts, so the bookkeeping is always done.
    const run = (state: TaskState, worker: WorkerState, trial: boolean): Effect.Effect<void> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const started = clock.unsafeCurrentTimeMillis()
          state.attempts++
          if (state.attempts === 1) state.firstAttemptAt = started
          state.lastAttemptAt = started
          const timeoutMillis = state.record.timeoutMillis ?? state.type.timeoutMillis
          let exit: Exit.Exit<unknown, unknown>
          state.inHandler = true
          if (state.cancelled !== undefined) {
            state.inHandler = false
            exit = Exit.interrupt(FiberId.none)
          } else {
            state.timedOut = false
            const deadline = yield* timeouts.add(started + timeoutMillis, () =>
              Effect.sync(() => {
                if (!state.inHandler) return
                state.timedOut = true
                state.fiber?.unsafeInterruptAsFork(FiberId.none)
              }))
            exit = yield* Effect.exit(
              restore(attempt(state, worker)).pipe(
                Effect.ensuring(Effect.sync(() => {
                  state.inHandler = false
                  timeouts.remove(deadline)
                }))
              )
            )
          }
          const ended = clock.unsafeCurrentTimeMillis()
          worker.inFlight--
          usedSlots--
          runningCount--
          worker.attemptsFinished++
          worker.latencyTotal += ended - started
          Metrics.taskDuration.unsafeUpdate((ended - started) / 1000, state.type.labels)
          updateLoad()
          yield* Effect.orDie(queue.finish(state.record.id))
          if (worker.removing && worker.inFlight === 0) workers.delete(worker.spec.name)

          let failure: unknown
          let timedOut = false
          if (Exit.isSuccess(exit)) {
            const encoded = state.type.encodeResult(exit.value)
            if (Either.isRight(encoded)) {
              worker.completed++
              yield* record(worker, false, trial)
              yield* freed(worker, state)
              state.encodedResult = encoded.right
              return yield* finish(state, "completed", Exit.succeed(exit.value))
            }
            failure = {
              _tag: "InvalidResult",
              message: `the result does not match the result schema of "${state.type.name}": ${encoded.left.message}`
            }
          } else if (state.timedOut && Cause.isInterruptedOnly(exit.cause)) {
            timedOut = true
            failure = new TaskTimeout({ taskId: state.record.id, timeoutMillis, attempts: state.attempts })
          } else if (state.cancelled !== undefined && Cause.isInterruptedOnly(exit.cause)) {
            yield* freed(worker, state)
            return yield* finish(
              state,
              "cancelled",
              Exit.fail(new TaskCancelled({ taskId: state.record.id, reason: state.cancelled }))
            )
          } else {
            const error = Cause.failureOption(exit.cause)
            failure = Option.isSome(error) ? error.value : Cause.squash(exit.cause)
          }
          worker.errors++
          yield* record(worker, true, trial)
          yield* freed(worker, state)
          const info = Failure.fromUnknown(failure)

          // Retry after the policy's delay: a timer re-queues the task.
          if (state.retryState === undefined) {
            const schedule = state.record.retry === undefined
              ? state.type.spec.retry
              : Task.overrideSchedule(state.record.retry)
            state.retryState = { schedule, state: schedule.initial }
          }
          const now = clock.unsafeCurrentTimeMillis()
          const [next, , decision] = yield* state.retryState.schedule.step(now, failure, state.retryState.state)
          if (ScheduleDecision.isDone(decision) || state.cancelled !== undefined) {
            if (state.cancelled !== undefined) {
              return yield* finish(
                state,
                "cancelled",
                Exit.fail(new TaskCancelled({ taskId: state.record.id, reason: state.cancelled }))
              )
            }
            return yield* failFinally(state, info, timedOut, timeoutMillis)
          }
          state.retryState.state = next
          state.status = "retrying"
          state.fiber = undefined
          state.retryAt = yield* timeouts.add(
            Math.max(now, ScheduleIntervals.start(decision.intervals)),
            () => requeue(state)
          )
        })
      )

    const requeue = (state: TaskState): Effect.Effect<void> =>
      Effect.suspend(() => {
        state.retryAt = undefined
        if (state.exit !== undefined || state.status !== "retrying") return Effect.void
        if (state.cancelled !== undefined) {
          return finish(
            state,
            "cancelled",
            Exit.fail(new TaskCancelled({ taskId: state.record.id, reason: state.cancelled }))
          )
        }
        state.status = "queued"
        return Effect.zipRight(
          Effect.orDie(queue.offer(state.record, { maxQueued: state.type.maxQueued, force: true })),
          Effect.suspend(() => {
            state.type.queued++
            Metrics.queueDepth.unsafeUpdate(state.type.queued, state.type.labels)
            return dispatch(state.type)
          })
        )
      })

    // A slot was freed: start what can run on it. A task of a group may
    // have held back tasks of other types in that group.
    const freed = (worker: WorkerState, state: TaskState) =>
      state.record.groupKey === undefined ? dispatchWorker(worker) : dispatchAll

    const failFinally = (
      state: TaskState,
      info: Failure.FailureInfo,
      timedOut: boolean,
      timeoutMillis: number
    ) =>
      Effect.gen(function*() {
        const id = state.record.id
        if (Option.isNone(deadLetters)) {
          return yield* finish(
            state,
            "failed",
            Exit.fail(
              timedOut
                ? new TaskTimeout({ taskId: id, timeoutMillis, attempts: state.attempts })
                : new TaskFailed({ taskId: id, attempts: state.attempts, error: info })
            )
          )
        }
        const sent = yield* Effect.either(
          Effect.suspend(() =>
            deadLetters.value.send({
              source: "supervisor",
              taskType: state.type.name,
              taskId: id,
              attempt: state.attempts,
              attempts: state.attempts,
              payload: state.record.payload as never,
              error: info,
              ...(state.record.agentId === undefined ? {} : { agent: state.record.agentId }),
              firstAttemptAt: state.firstAttemptAt,
              lastAttemptAt: state.lastAttemptAt,
              context: {
                priority: state.record.priority,
                timeoutMillis,
                ...(state.record.groupKey === undefined ? {} : { groupKey: state.record.groupKey })
              }
            })
          ).pipe(
            Effect.catchAllDefect((defect) =>
              Effect.fail({ message: Failure.fromUnknown(defect).message, _tag: "Defect" as const })
            )
          )
        )
        if (Either.isRight(sent)) {
          yield* publish({
            _tag: "TaskDeadLettered",
            taskId: id,
            taskType: state.type.name,
            letterId: sent.right.letterId
          })
          return yield* finish(
            state,
            "dead-lettered",
            Exit.fail(
              new TaskDeadLettered({ taskId: id, letterId: sent.right.letterId, attempts: state.attempts, error: info })
            )
          )
        }
        const message = sent.left.message
        Metrics.deadLetterFailures.unsafeUpdate(1, state.type.labels)
        yield* Effect.logError(`supervisor: the dead letter of task ${id} could not be written: ${message}`, info)
        yield* publish({ _tag: "DeadLetterFailed", taskId: id, taskType: state.type.name, message })
        return yield* finish(
          state,
          "failed",
          Exit.fail(new TaskFailed({ taskId: id, attempts: state.attempts, error: info, deadLetterError: message }))
        )
      })

    // ---- ending a task: exactly once ----

    const settleGrant = (state: TaskState) => {
      const grantId = state.record.grantId
      if (admission === undefined || grantId === undefined || state.grantSettled) return Effect.void
      state.grantSettled = true
      const settle = state.usage === undefined
        ? admission.release(grantId)
        : admission.commit(grantId, state.usage)
      return settle.pipe(
        Effect.catchAllCause((cause) => {
          const message = Cause.pretty(cause)
          Metrics.grantSettleFailures.unsafeUpdate(1, Metrics.noLabels)
          return Effect.zipRight(
            Effect.logError(`supervisor: the admission grant of task ${state.record.id} could not be settled`, cause),
            publish({ _tag: "GrantSettleFailed", taskId: state.record.id, message })
          )
        }),
        Effect.zipRight(Effect.sync(() => settled.fire()))
      )
    }

    const finish = (
      state: TaskState,
      status: "completed" | "failed" | "cancelled" | "dead-lettered",
      exit: Exit.Exit<unknown, TaskError>
    ): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (state.exit !== undefined) return Effect.void
        const complete = Effect.sync(() => done(state, status, exit))
        return admission === undefined || state.record.grantId === undefined
          ? complete
          : Effect.zipRight(settleGrant(state), complete)
      })

    const done = (
      state: TaskState,
      status: "completed" | "failed" | "cancelled" | "dead-lettered",
      exit: Exit.Exit<unknown, TaskError>
    ) => {
      if (state.exit !== undefined) return
      const now = clock.unsafeCurrentTimeMillis()
      state.status = status
      state.exit = exit
      state.fiber = undefined
      state.retryState = undefined
      state.finishedAt = now
      active.delete(state.record.id)
      retained.set(state.record.id, state)
      finishedOrder.push(state)
      evict(now)
      Metrics.tasks.unsafeUpdate(1, Metrics.outcomeLabels[status])
      Deferred.unsafeDone(state.deferred, exit)
      if (active.size === 0) idle.fire()
    }

    // Finished tasks in the order they finished. A queue with a moving head,
    // not the Map's own order: iterating a Map from its start walks over the
    // holes its deletions left, which made every eviction cost O(evicted).
    let finishedOrder: Array<TaskState> = []
    let finishedHead = 0
    const evict = (now: number) => {
      while (finishedHead < finishedOrder.length) {
        const state = finishedOrder[finishedHead]!
        const current = retained.get(state.record.id) === state
        if (
          current && retained.size <= config.results.maxCount &&
          state.finishedAt + config.results.retentionMillis > now
        ) break
        finishedOrder[finishedHead++] = undefined as never
        if (!current) continue
        retained.delete(state.record.id)
        const key = state.record.idempotencyKey
        if (key !== undefined && byKey.get(key) === state) byKey.delete(key)
      }
      if (finishedHead > 1024 && finishedHead * 2 > finishedOrder.length) {
        finishedOrder = finishedOrder.slice(finishedHead)
        finishedHead = 0
      }
    }

    const lookup = (id: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const state = active.get(id) ?? retained.get(id)
        if (state === undefined) return Effect.fail(new TaskNotFound({ taskId: id }))
        if (state.exit !== undefined && state.finishedAt + config.results.retentionMillis <= now) {
          evict(now)
          retained.delete(id)
          const key = state.record.idempotencyKey
          if (key !== undefined && byKey.get(key) === state) byKey.delete(key)
          return Effect.fail(new TaskNotFound({ taskId: id }))
        }
        return Effect.succeed(state)
      })

    // Cancelling never interrupts a task's fiber outside its handler: a fiber
    // interrupted before it started would skip its bookkeeping. A run that
    // starts after the request ends cancelled without calling the handler.
    // Returns once the task has ended.
    const cancelTask = (state: TaskState, reason: "cancelled" | "shutdown"): Effect.Effect<void> =>
      Effect.suspend(() => {
        const ended = Effect.asVoid(Effect.exit(Deferred.await(state.deferred)))
        if (state.exit !== undefined) return Effect.void
        if (state.cancelled !== undefined) return ended
        state.cancelled = reason
        const cancelled = Exit.fail(new TaskCancelled({ taskId: state.record.id, reason }))
        if (state.status === "retrying" && state.retryAt !== undefined) {
          timeouts.remove(state.retryAt)
          state.retryAt = undefined
          return finish(state, "cancelled", cancelled)
        }
        if (state.status === "queued") {
          return Effect.flatMap(Effect.orDie(queue.remove(state.record.id)), (removed) => {
            if (!removed) return ended
            onQueueShrank(state.type)
            return finish(state, "cancelled", cancelled)
          })
        }
        if (state.inHandler && state.fiber !== undefined) state.fiber.unsafeInterruptAsFork(FiberId.none)
        return ended
      })

    // A handle builds its effects when they are used, not at submit.
    class Handle implements Task.TaskHandle<unknown> {
      constructor(private readonly state: TaskState) {}
      get id() {
        return this.state.record.id
      }
      get await() {
        return Deferred.await(this.state.deferred)
      }
      get poll() {
        return Effect.sync(() => Option.fromNullable(this.state.exit))
      }
      get cancel() {
        return cancelTask(this.state, "cancelled")
      }
    }

    const handleOf = (state: TaskState): Task.TaskHandle<unknown> => {
      if (state.handle === undefined) state.handle = new Handle(state)
      return state.handle
    }

    // ---- submit ----

    const invalid = (message: string) => Effect.fail(new InvalidInput({ message }))

    const checkRequest = (request: Task.SubmitRequest<any>): string | undefined => {
      if (request.priority !== undefined && !Number.isSafeInteger(request.priority)) {
        return `priority must be an integer, got ${String(request.priority)}`
      }
      if (
        request.estimatedTokens !== undefined &&
        (!Number.isSafeInteger(request.estimatedTokens) || request.estimatedTokens < 0)
      ) return `estimatedTokens must be a non-negative integer, got ${String(request.estimatedTokens)}`
      if (request.agentId !== undefined && !Schema.is(Ids.AgentId)(request.agentId)) {
        return `agentId is not a valid id: ${JSON.stringify(request.agentId)}`
      }
      if (request.groupKey !== undefined && (typeof request.groupKey !== "string" || request.groupKey === "")) {
        return "groupKey must be a non-empty string"
      }
      if (
        request.idempotencyKey !== undefined &&
        (typeof request.idempotencyKey !== "string" || request.idempotencyKey === "")
      ) return "idempotencyKey must be a non-empty string"
      if (
        request.timeoutMillis !== undefined &&
        (!Number.isSafeInteger(request.timeoutMillis) || request.timeoutMillis < 1)
      ) return `timeoutMillis must be a positive integer, got ${String(request.timeoutMillis)}`
      if (request.retry !== undefined && !Schema.is(Task.RetryOverride)(request.retry)) {
        return "retry must be { maxAttempts: 1–1000, backoffMillis?: 0–86400000 }"
      }
      return undefined
    }

    const backpressure = (type: TypeEntry) => {
      Metrics.rejections.unsafeUpdate(1, Metrics.backpressureLabels)
      let slots = 0
      let latency = 0
      let finished = 0
      for (const worker of type.workers) {
        slots += worker.spec.maxConcurrent
        latency += worker.latencyTotal
        finished += worker.attemptsFinished
      }
      const average = finished === 0 ? 100 : Math.max(1, latency / finished)
      const retryAfterMillis = slots === 0 ? 1_000 : Math.ceil((average * (type.queued - type.maxQueued + 1)) / slots)
      return new Backpressure({
        taskType: type.name,
        queueDepth: type.queued,
        maxQueued: type.maxQueued,
        load: systemLoad(),
        retryAfterMillis: Math.max(1, retryAfterMillis)
      })
    }

    const onFull = (type: TypeEntry) =>
      Effect.suspend(() => {
        if (type.fullSince !== undefined) return Effect.void
        const epoch = ++type.fullEpoch
        return Effect.flatMap(Clock.currentTimeMillis, (now) => {
          type.fullSince = now
          return startTimer(
            Effect.gen(function*() {
              yield* Effect.sleep(Duration.millis(config.queueSaturatedAfterMillis))
              if (type.fullEpoch !== epoch || type.fullSince === undefined) return
              const at = yield* Clock.currentTimeMillis
              yield* publish({ _tag: "QueueSaturated", taskType: type.name, fullForMillis: at - type.fullSince })
            })
          )
        })
      })

    const submit = <R>(request: Task.SubmitRequest<R>): Effect.Effect<Task.TaskHandle<R>, Supervisor.SubmitError> =>
      Effect.suspend(() => {
        if (closed) return Effect.fail(new SupervisorClosed())
        const name = typeof request.type === "string" ? request.type : request.type?.name
        const type = types.get(name)
        if (type === undefined) return Effect.fail(new UnknownTaskType({ taskType: String(name) }))
        const problem = checkRequest(request)
        if (problem !== undefined) return invalid(problem)
        const key = request.idempotencyKey
        if (key !== undefined) {
          const existing = byKey.get(key)
          if (existing !== undefined) return Effect.succeed(handleOf(existing) as Task.TaskHandle<R>)
        }
        const decoded = type.decode(request.payload)
        if (Either.isLeft(decoded)) {
          return Effect.fail(new InvalidPayload({ taskType: type.name, message: decoded.left.message }))
        }
        if (type.queued >= type.maxQueued) return Effect.zipRight(onFull(type), Effect.fail(backpressure(type)))
        return Effect.flatMap(
          ids.next,
          (id) => enqueue(type, request, decoded.right, id as Ids.TaskId) as Effect.Effect<Task.TaskHandle<R>, any>
        )
      })

    const enqueue = (
      type: TypeEntry,
      request: Task.SubmitRequest<any>,
      payload: unknown,
      id: Ids.TaskId
    ): Effect.Effect<Task.TaskHandle<unknown>, Supervisor.SubmitError> =>
      Effect.gen(function*() {
        const now = clock.unsafeCurrentTimeMillis()
        const span = config.tracing ? yield* Effect.serviceOption(Tracer.ParentSpan) : Option.none()
        let grantId: string | undefined
        if (admission !== undefined) {
          const grant = yield* admission.admit({
            taskId: id,
            taskType: type.name,
            ...(request.agentId === undefined ? {} : { agentId: request.agentId as Ids.AgentId }),
            ...(request.estimatedTokens === undefined ? {} : { estimatedTokens: request.estimatedTokens }),
            priority: request.priority ?? 0
          }).pipe(
            Effect.tapError(() => Effect.sync(() => Metrics.rejections.unsafeUpdate(1, Metrics.admissionLabels)))
          )
          grantId = grant.id
        }
        const release = () =>
          admission === undefined || grantId === undefined
            ? Effect.void
            : Effect.zipRight(Effect.ignoreLogged(admission.release(grantId)), Effect.sync(() => settled.fire()))
        // Checked again: a policy may have let other fibers run.
        if (closed) {
          yield* release()
          return yield* new SupervisorClosed()
        }
        const key = request.idempotencyKey
        if (key !== undefined) {
          const existing = byKey.get(key)
          if (existing !== undefined) {
            yield* release()
            return handleOf(existing)
          }
        }
        const fields: { -readonly [K in keyof Task.TaskRecord]: Task.TaskRecord[K] } = {
          id,
          type: type.name,
          payload: request.payload,
          priority: request.priority ?? 0,
          submittedAt: now
        }
        if (request.agentId !== undefined) fields.agentId = request.agentId as Ids.AgentId
        if (request.estimatedTokens !== undefined) fields.estimatedTokens = request.estimatedTokens
        if (request.groupKey !== undefined) fields.groupKey = request.groupKey
        if (key !== undefined) fields.idempotencyKey = key
        if (request.timeoutMillis !== undefined) fields.timeoutMillis = request.timeoutMillis
        if (request.retry !== undefined) fields.retry = request.retry
        if (grantId !== undefined) fields.grantId = grantId
        if (Option.isSome(span)) fields.trace = { traceId: span.value.traceId, spanId: span.value.spanId }
        const record: Task.TaskRecord = fields
        const state: TaskState = {
          record,
          type,
          payload,
          status: "queued",
          deferred: Deferred.unsafeMake(FiberId.none),
          exit: undefined,
          attempts: 0,
          firstAttemptAt: now,
          lastAttemptAt: now,
          usage: undefined,
          grantSettled: false,
          fiber: undefined,
          cancelled: undefined,
          retryState: undefined,
          retryAt: undefined,
          inHandler: false,
          timedOut: false,
          encodedResult: undefined,
          finishedAt: 0,
          handle: undefined
        }
        // Registered before it is queued: a dispatch may take it at once.
        active.set(id, state)
        if (key !== undefined) byKey.set(key, state)
        const offered = yield* queue.offer(record, { maxQueued: type.maxQueued }).pipe(
          Effect.tapErrorCause(() =>
            Effect.zipRight(
              Effect.sync(() => {
                active.delete(id)
                if (key !== undefined) byKey.delete(key)
              }),
              release()
            )
          )
        )
        if (offered._tag === "Full") {
          active.delete(id)
          if (key !== undefined) byKey.delete(key)
          yield* release()
          type.queued = offered.depth
          yield* onFull(type)
          return yield* backpressure(type)
        }
        type.queued++
        Metrics.queueDepth.unsafeUpdate(type.queued, type.labels)
        if (type.queued >= type.maxQueued) yield* onFull(type)
        yield* dispatch(type)
        return handleOf(state)
      })

    const submitWait = <R>(
      request: Task.SubmitRequest<R>,
      waitOptions?: { readonly timeout?: Duration.DurationInput }
    ): Effect.Effect<Task.TaskHandle<R>, Supervisor.SubmitError> => {
      let last: Supervisor.SubmitError | undefined
      const name = typeof request.type === "string" ? request.type : request.type?.name
      const attempt: Effect.Effect<Task.TaskHandle<R>, Supervisor.SubmitError> = Effect.suspend(() => {
        const type = types.get(name)
        // Taken before asking, so a slot freed in between is not missed.
        const space = type?.space.next()
        const grants = settled.next()
        return Effect.catchIf(
          submit(request),
          (error) => error._tag === "Backpressure" || error._tag === "AdmissionRejected",
          (error) => {
            last = error
            const wake = error._tag === "Backpressure"
              ? Deferred.await(space!)
              : Effect.race(
                Deferred.await(grants),
                Effect.sleep(Duration.millis(error.retryAfterMillis ?? 1_000))
              )
            return Effect.zipRight(wake, attempt)
          }
        )
      })
      if (waitOptions?.timeout === undefined) return attempt
      return Effect.timeoutFail(attempt, {
        duration: waitOptions.timeout,
        onTimeout: () => last ?? new SupervisorClosed()
      })
    }

    // ---- workers ----

    const addWorker = (spec: Task.Worker) =>
      Effect.suspend(() => {
        if (typeof spec.name !== "string" || spec.name === "") return invalid("a worker needs a non-empty name")
        if (workers.has(spec.name)) return invalid(`a worker named "${spec.name}" is already registered`)
        if (!Number.isSafeInteger(spec.maxConcurrent) || spec.maxConcurrent < 1) {
          return invalid(`maxConcurrent of "${spec.name}" must be a positive integer, got ${spec.maxConcurrent}`)
        }
        if (typeof spec.handler !== "function") return invalid(`the handler of "${spec.name}" is not a function`)
        if (spec.taskTypes.length === 0) return invalid(`worker "${spec.name}" takes no task type`)
        const entries: Array<TypeEntry> = []
        for (const name of new Set(spec.taskTypes)) {
          const type = types.get(name)
          if (type === undefined) return invalid(`worker "${spec.name}" takes unknown task type "${name}"`)
          entries.push(type)
        }
        const worker: WorkerState = {
          spec,
          types: entries,
          inFlight: 0,
          completed: 0,
          errors: 0,
          latencyTotal: 0,
          attemptsFinished: 0,
          removing: false,
          circuit: "closed",
          window: [],
          windowNext: 0,
          windowFailures: 0
        }
        workers.set(spec.name, worker)
        for (const type of entries) type.workers.push(worker)
        totalSlots += spec.maxConcurrent
        updateLoad()
        return dispatchWorker(worker)
      })

    const removeWorker = (name: string) =>
      Effect.suspend(() => {
        const worker = workers.get(name)
        if (worker === undefined || worker.removing) return invalid(`no worker named "${name}"`)
        worker.removing = true
        for (const type of worker.types) type.workers.splice(type.workers.indexOf(worker), 1)
        // Its in-flight tasks keep counting as used until they end.
        totalSlots -= worker.spec.maxConcurrent
        if (worker.inFlight === 0) workers.delete(name)
        updateLoad()
        return Effect.void
      })

    for (const spec of config.workers) {
      yield* Effect.mapError(addWorker(spec), (error) => new InvalidOptions({ message: error.message }))
    }

    // ---- shutdown ----

    const waitIdle: Effect.Effect<void> = Effect.suspend(() =>
      active.size === 0 ? Effect.void : Effect.zipRight(Deferred.await(idle.next()), waitIdle)
    )

    const cancelAll = Effect.suspend(() =>
      Effect.forEach([...active.values()], (state) => cancelTask(state, "shutdown"), {
        concurrency: "unbounded",
        discard: true
      })
    )

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        closed = true
        for (const type of types.values()) type.space.fire()
        settled.fire()
        if (config.shutdown.mode === "drain") {
          // Queued tasks of a type no worker takes cannot drain: cancelled now.
          yield* Effect.forEach(
            [...active.values()].filter((state) => state.status === "queued" && state.type.workers.length === 0),
            (state) => cancelTask(state, "shutdown"),
            { discard: true }
          )
          yield* Effect.timeout(Effect.interruptible(waitIdle), Duration.millis(config.shutdown.timeoutMillis)).pipe(
            Effect.ignore
          )
        }
        yield* cancelAll
        yield* waitIdle
        yield* Fiber.interruptAll([...timers])
        yield* timeouts.shutdown
        yield* PubSub.shutdown(events)
      })
    )

    const snapshot = Effect.map(queue.stats, (stats): Task.Snapshot => {
      const queueDepth: Record<string, number> = {}
      for (const name of types.keys()) queueDepth[name] = stats.byType[name] ?? 0
      return {
        load: systemLoad(),
        queueDepth,
        groups: stats.byGroup,
        running: runningCount,
        workers: [...workers.values()].map((worker): Task.WorkerSnapshot => {
          const load = worker.inFlight / worker.spec.maxConcurrent
          return {
            name: worker.spec.name,
            taskTypes: worker.types.map((type) => type.name),
            state: worker.removing ? "removing" : worker.inFlight === 0 ? "idle" : load > 0.8 ? "overloaded" : "busy",
            circuit: worker.circuit,
            inFlight: worker.inFlight,
            maxConcurrent: worker.spec.maxConcurrent,
            load,
            completed: worker.completed,
            errors: worker.errors,
            averageLatencyMillis: worker.attemptsFinished === 0 ? 0 : worker.latencyTotal / worker.attemptsFinished
          }
        })
      }
    })

    const service: Supervisor.SupervisorService = {
      submit,
      submitWait,
      status: (id) => Effect.map(lookup(id), (state) => state.status),
      result: (id) =>
        Effect.flatMap(
          lookup(id),
          (state) =>
            Effect.flatMap(Deferred.await(state.deferred), () =>
              Effect.orDie(
                Schema.decodeUnknown(state.type.spec.result as Schema.Schema<unknown, unknown>)(
                  state.encodedResult
                )
              ))
        ),
      handle: (id) => Effect.map(lookup(id), handleOf),
      cancel: (id) => Effect.flatMap(lookup(id), (state) => cancelTask(state, "cancelled")),
      addWorker,
      removeWorker,
      snapshot,
      events: Stream.fromPubSub(events)
    }
    return service
  })
