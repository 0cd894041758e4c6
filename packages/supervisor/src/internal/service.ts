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
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as PubSub from "effect/PubSub"
import * as Random from "effect/Random"
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
  StoreError,
  SupervisorClosed,
  TaskCancelled,
  TaskDeadLettered,
  type TaskError,
  TaskFailed,
  TaskNotFound,
  TaskPoisoned,
  TaskTimeout,
  UnknownTaskType
} from "../Errors.js"
import type * as Supervisor from "../Supervisor.js"
import * as Task from "../Task.js"
import type * as TaskQueue from "../TaskQueue.js"
import * as TaskIds from "./ids.js"
import * as MemoryQueue from "./memoryQueue.js"
import * as Metrics from "./metrics.js"
import * as Options from "./options.js"
import { Pulse } from "./pulse.js"
import * as Timeouts from "./timeouts.js"

interface TypeEntry {
  readonly spec: Task.TaskType<any, any>
  readonly name: string
  readonly maxQueued: number
  /** `{ maxQueued }`, made once for every offer. */
  readonly offerOptions: { readonly maxQueued: number }
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
  /** Slots whose fiber waits for its next task (at most `maxParked`). */
  readonly parked: Array<Slot>
}

// A worker's slot: a long-lived fiber that runs one task after another, so a
// busy supervisor forks no fiber per task. The fiber is uninterruptible but
// for the handler. An interrupt sent to it (a timeout, a cancel) stays
// pending on the fiber, so it ends after that task and another fiber takes
// the slot's next task.
interface Slot {
  readonly worker: WorkerState
  fiber: Fiber.RuntimeFiber<void> | undefined
  /** The task it runs next, and whether that task is its worker's half-open trial. */
  next: TaskState | undefined
  nextTrial: boolean
  /** Its task ended and its fiber may take the worker's next task itself. */
  free: boolean
  /** An interrupt was sent to its fiber. */
  interrupted: boolean
  /** Resumes the fiber while it is parked. */
  wake: ((resume: Effect.Effect<void>) => void) | undefined
  /** The fiber's own context, without a task's span (with `tracing`). */
  outer: Context.Context<never> | undefined
  /** Its context still holds the span of the attempt that just ended. */
  inSpan: boolean
}

/** Bounds an effect by `submitWait`'s timeout (failing with its last refusal). */
type Bound = <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E | Supervisor.SubmitError>

/** What `submit` answers `submitWait` for a full queue. */
const Wait: unique symbol = Symbol("@agentos/supervisor/Wait")

/** Parked slot fibers kept per worker; a slot freed beyond them ends its fiber. */
const maxParked = 64

// The guards of submit's checks, built once rather than on every submit.
const isAgentId = Schema.is(Ids.AgentId)
const isRetryOverride = Schema.is(Task.RetryOverride)

interface TaskState {
  readonly record: Task.TaskRecord
  readonly type: TypeEntry
  readonly payload: unknown
  status: Task.TaskStatus
  /** Made when someone waits before the task ends (most awaits come after). */
  deferred: Deferred.Deferred<unknown, TaskError> | undefined
  exit: Exit.Exit<unknown, TaskError> | undefined
  attempts: number
  firstAttemptAt: number
  lastAttemptAt: number
  usage: TokenUsage.TokenUsage | undefined
  grantSettled: boolean
  /** The slot running it, while it runs. */
  slot: Slot | undefined
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
  /** Shared queue: the lease it runs under here (its token, and its failures when claimed). */
  claim: { readonly token: number; readonly failures: number } | undefined
  /** Shared queue: the lease was lost (another runner took the task); nothing is recorded. */
  leaseLost: boolean
  /** Shared queue: it left this process without ending here (`abandon`). */
  gone: boolean
  /** Shared queue: a `handBack` shutdown stops it and hands it back to the queue. */
  handBack: boolean
}

// A task's local state as it enters this process: accepted here (no claim)
// or claimed from a shared queue (its lease and the failures it had).
const newTaskState = (
  record: Task.TaskRecord,
  type: TypeEntry,
  payload: unknown,
  now: number,
  attempts: number,
  claim: TaskState["claim"]
): TaskState => ({
  record,
  type,
  payload,
  status: "queued",
  deferred: undefined,
  exit: undefined,
  attempts,
  firstAttemptAt: now,
  lastAttemptAt: now,
  usage: undefined,
  grantSettled: false,
  slot: undefined,
  cancelled: undefined,
  retryState: undefined,
  retryAt: undefined,
  inHandler: false,
  timedOut: false,
  encodedResult: undefined,
  finishedAt: 0,
  handle: undefined,
  claim,
  leaseLost: false,
  gone: false,
  handBack: false
})

export const make = (
  options: Supervisor.Options,
  queue: TaskQueue.TaskQueueService
): Effect.Effect<Supervisor.SupervisorService, InvalidOptions | StoreError, Scope.Scope> =>
  Effect.gen(function*() {
    const config = yield* Options.resolve(options)
    const providedIds = yield* Effect.serviceOption(IdGenerator.IdGenerator)
    const ids = Option.getOrElse(providedIds, () => IdGenerator.makeUlid)
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
    // Without an IdGenerator of the application's, ids are made by a plain call.
    let nextId: (() => string) | undefined
    if (Option.isNone(providedIds)) {
      const seed: Array<number> = []
      for (let i = 0; i < 4; i++) seed.push(Math.floor((yield* Random.next) * 2 ** 32))
      nextId = TaskIds.makeUlid(clock, seed as [number, number, number, number])
    }
    // A queue shared with other processes: the leased protocol.
    const shared = config.shared
    // The memory queue's direct calls, when the queue is the memory queue (not shared).
    const direct = shared === undefined ? MemoryQueue.direct(queue) : undefined
    if (config.shutdown.mode === "handBack" && MemoryQueue.direct(queue) !== undefined) {
      return yield* new InvalidOptions({
        message: `shutdown.mode "handBack" needs a durable queue (TaskQueue.layerSql): ` +
          "the memory queue's tasks do not outlive the process"
      })
    }
    // Shared queue: the tasks running here under a lease, renewed together.
    const leasedRunning = new Set<TaskState>()
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
      const maxQueued = spec.maxQueued ?? config.maxQueued
      const entry: TypeEntry = {
        spec,
        name: spec.name,
        maxQueued,
        offerOptions: { maxQueued },
        timeoutMillis: Duration.toMillis(spec.timeout),
        decode: Schema.decodeUnknownEither(spec.payload as Schema.Schema<unknown, unknown>),
        encodeResult: Schema.encodeEither(spec.result as Schema.Schema<unknown, unknown>),
        labels: Metrics.typeLabels(spec.name),
        workers: [],
        queued: 0,
        space: new Pulse(),
        fullEpoch: 0,
        fullSince: undefined
      }
      types.set(spec.name, entry)
      Metrics.queueDepth.unsafeUpdate(0, entry.labels)
    }
    const workers = new Map<string, WorkerState>()
    // Every known task by id: active ones (queued, running, retrying) and
    // finished ones still kept for `status` / `result` (one map: a task that
    // ends stays where it is).
    const tasks = new Map<string, TaskState>()
    let activeCount = 0
    let retainedCount = 0
    const activeTasks = () => [...tasks.values()].filter((state) => state.exit === undefined)
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
    const startTimer = (effect: Effect.Effect<void>) => {
      const fiber = fork(effect)
      timers.add(fiber)
      fiber.addObserver(() => timers.delete(fiber))
    }

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
        startTimer(
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

    // Counts an outcome in the worker's window; an effect when its circuit changes.
    const record = (worker: WorkerState, failed: boolean, trial: boolean): Effect.Effect<void> | undefined => {
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
      return undefined
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

    // Starts a taken task on `worker`: in `current` (the slot whose task just
    // ended, when it is this worker's and may go on), else in a parked slot of
    // the worker, else in a new slot fiber.
    const launch = (worker: WorkerState, state: TaskState, trial: boolean, current: Slot | undefined) => {
      runningCount++
      updateLoad()
      state.status = "running"
      let slot: Slot
      if (current !== undefined && current.free && current.worker === worker) {
        slot = current
        slot.free = false
      } else if (worker.parked.length > 0) {
        slot = worker.parked.pop()!
      } else {
        slot = {
          worker,
          fiber: undefined,
          next: undefined,
          nextTrial: false,
          free: false,
          interrupted: false,
          wake: undefined,
          outer: undefined,
          inSpan: false
        }
      }
      slot.next = state
      slot.nextTrial = trial
      state.slot = slot
      if (slot.fiber === undefined) {
        slot.fiber = fork(Effect.uninterruptible(
          config.tracing
            ? Effect.withFiberRuntime((fiber) => {
              slot.outer = fiber.currentContext
              return slotLoop(slot)
            })
            : slotLoop(slot)
        ))
      } else if (slot.wake !== undefined) {
        const wake = slot.wake
        slot.wake = undefined
        wake(Effect.void)
      }
    }

    // Starts queued tasks of `type` while a capable worker has a free slot.
    // The slot is reserved before the queue is asked, so concurrent
    // dispatches never overfill a worker.
    const dispatchVia = (type: TypeEntry, current?: Slot): Effect.Effect<void> =>
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
            const state = tasks.get(taken.value.id)
            if (state === undefined || state.exit !== undefined) {
              // Not ours to run (cannot happen in one process: cancel removes first).
              worker.inFlight--
              usedSlots--
              return Effect.zipRight(Effect.orDie(queue.finish(taken.value.id)), dispatchVia(type, current))
            }
            launch(worker, state, trial, current)
            return dispatchVia(type, current)
          }
        )
      })

    // The same over the memory queue's direct calls: done at once (undefined),
    // else the effect that does it.
    const dispatchNow = (type: TypeEntry, current: Slot | undefined): Effect.Effect<void> | undefined => {
      if (shared !== undefined) return dispatchShared(type, current)
      if (direct === undefined) return dispatchVia(type, current)
      while (type.queued > 0) {
        const worker = pickWorker(type)
        if (worker === undefined) return undefined
        const taken = direct.take(type.name, limits)
        if (taken === undefined) return undefined
        onQueueShrank(type)
        const state = tasks.get(taken.id)
        if (state === undefined || state.exit !== undefined) {
          direct.finish(taken.id)
          continue
        }
        const trial = worker.circuit === "half-open"
        worker.inFlight++
        usedSlots++
        launch(worker, state, trial, current)
      }
      return undefined
    }

    const dispatch = (type: TypeEntry, current?: Slot): Effect.Effect<void> =>
      shared !== undefined
        ? dispatchShared(type, current)
        : direct === undefined
        ? dispatchVia(type, current)
        : Effect.sync(() => void dispatchNow(type, current))

    const dispatchWorker = (worker: WorkerState, current?: Slot) =>
      worker.types.length === 1
        ? dispatch(worker.types[0]!, current)
        : Effect.forEach(worker.types, (type) => dispatch(type, current), { discard: true })

    const dispatchAll = (current?: Slot) =>
      Effect.suspend(() => Effect.forEach(types.values(), (type) => dispatch(type, current), { discard: true }))

    // Ends the fibers of a worker's parked slots (shutdown, a removed worker).
    const unpark = (worker: WorkerState) => {
      for (const slot of worker.parked.splice(0)) {
        const wake = slot.wake
        slot.wake = undefined
        wake?.(Effect.void)
      }
    }

    // A slot's fiber: runs the task handed to it, then the next one, and
    // parks when there is none (or ends: see `maxParked`).
    const slotLoop = (slot: Slot): Effect.Effect<void> =>
      Effect.suspend(() => {
        const state = slot.next
        if (state !== undefined) {
          slot.next = undefined
          return Effect.zipRight(runAttempt(slot, state, slot.nextTrial), slotLoop(slot))
        }
        slot.free = false
        const worker = slot.worker
        if (slot.interrupted || closed || worker.removing || worker.parked.length >= maxParked) {
          slot.fiber = undefined
          return Effect.void
        }
        worker.parked.push(slot)
        return Effect.zipRight(
          Effect.async<void>((resume) => {
            slot.wake = resume
          }),
          slotLoop(slot)
        )
      })

    const interruptSlot = (slot: Slot) => {
      slot.interrupted = true
      slot.free = false
      slot.fiber?.unsafeInterruptAsFork(FiberId.none)
    }

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

    // The handler, interruptible, to its exit; with `tracing`, in a span of
    // its own (child of the submitter's span, else of the slot's own parent
    // span) that is the handler's parent span. What `Effect.withSpan` does,
    // in fewer steps: the slot's fiber is uninterruptible outside the
    // handler, so the span is always ended without a finalizer, and the
    // fiber's own context is put back only before an effect that is not the
    // next attempt runs in it (`withOuter`).
    const attempt = (slot: Slot, state: TaskState): Effect.Effect<Exit.Exit<unknown, unknown>> => {
      const worker = slot.worker
      const handler = Effect.exit(
        Effect.interruptible(Effect.suspend(() => worker.spec.handler(state.payload, context(state, worker))))
      )
      if (!config.tracing) return handler
      const outer = slot.outer!
      const trace = state.record.trace
      const parent = trace === undefined ? parentIn(outer) : Tracer.externalSpan(trace)
      const span = Effect.makeSpan("Supervisor.task", {
        attributes: { "task.id": state.record.id, "task.type": state.type.name, "task.attempt": state.attempts },
        captureStackTrace: false,
        ...(parent === undefined ? { root: true } : { parent })
      })
      return Effect.flatMap(span, (span) =>
        Effect.withFiberRuntime((fiber) => {
          const timing = fiber.getFiberRef(FiberRef.currentTracerTimingEnabled)
          const spanClock = Context.get(fiber.currentDefaultServices, Clock.Clock)
          slot.inSpan = true
          return Effect.zipRight(
            FiberRef.set(FiberRef.currentContext, Context.add(outer, Tracer.ParentSpan, span)),
            Effect.map(handler, (exit) => {
              if (span.status._tag !== "Ended") span.end(timing ? spanClock.unsafeCurrentTimeNanos() : BigInt(0), exit)
              return exit
            })
          )
        }))
    }

    // The parent span a span made in `context` gets (as `Effect.withSpan` finds it).
    const parentIn = (context: Context.Context<never>): Tracer.AnySpan | undefined => {
      const parent = Context.getOption(context, Tracer.ParentSpan)
      if (Option.isNone(parent)) return undefined
      const span = parent.value
      return span._tag === "Span" && Context.get(span.context, Tracer.DisablePropagation) ? undefined : span
    }

    // `next` to run in the slot's fiber after an attempt: its own context
    // first, unless `next` does nothing (then the next attempt replaces the
    // span in the context anyway).
    const withOuter = (slot: Slot, next: Effect.Effect<void>): Effect.Effect<void> => {
      if (!slot.inSpan || next === Effect.void) return next
      slot.inSpan = false
      return Effect.zipRight(FiberRef.set(FiberRef.currentContext, slot.outer!), next)
    }

    // A task's deadline passed: its handler, if it is still running, is interrupted.
    const timeOut = (state: TaskState) =>
      Effect.sync(() => {
        if (!state.inHandler || state.slot === undefined) return
        state.timedOut = true
        interruptSlot(state.slot)
      })

    // One attempt in `slot`, then what follows: completion, a retry (its
    // delay is a timer; the slot is given back at once), or the final
    // failure. Runs uninterruptibly but for the handler, which a timeout or a
    // cancel interrupts, so the bookkeeping is always done.
    const runAttempt = (slot: Slot, state: TaskState, trial: boolean): Effect.Effect<void> => {
      const started = clock.unsafeCurrentTimeMillis()
      state.attempts++
      if (state.attempts === 1) state.firstAttemptAt = started
      state.lastAttemptAt = started
      const timeoutMillis = state.record.timeoutMillis ?? state.type.timeoutMillis
      // Cancelled, its lease lost or being handed back before the handler started: the handler is not run.
      if (state.cancelled !== undefined || state.leaseLost || state.handBack) {
        return withOuter(slot, afterAttempt(slot, state, trial, started, timeoutMillis, Exit.interrupt(FiberId.none)))
      }
      state.timedOut = false
      state.inHandler = true
      const deadline = timeouts.add(started + timeoutMillis, timeOut, state)
      return Effect.flatMap(attempt(slot, state), (exit) => {
        state.inHandler = false
        timeouts.remove(deadline)
        return withOuter(slot, afterAttempt(slot, state, trial, started, timeoutMillis, exit))
      })
    }

    const afterAttempt = (
      slot: Slot,
      state: TaskState,
      trial: boolean,
      started: number,
      timeoutMillis: number,
      exit: Exit.Exit<unknown, unknown>
    ): Effect.Effect<void> => {
      const worker = slot.worker
      const ended = clock.unsafeCurrentTimeMillis()
      worker.inFlight--
      usedSlots--
      runningCount--
      worker.attemptsFinished++
      worker.latencyTotal += ended - started
      Metrics.taskDuration.unsafeUpdate((ended - started) / 1000, state.type.labels)
      updateLoad()
      state.slot = undefined
      // Its fiber may take the next task itself, unless an interrupt is pending on it.
      if (!slot.interrupted) slot.free = true
      if (shared !== undefined) {
        // Its lease is still renewed until its end or retry is recorded (`done`, `abandon`).
        if (state.leaseLost) {
          // Another runner has the task now: nothing of this attempt is recorded.
          const dispatched = freed(slot, state)
          abandon(state)
          return dispatched ?? Effect.void
        }
        // Stopped by a `handBack` shutdown (not cancelled, not ended by itself): back to the queue.
        if (state.handBack && state.cancelled === undefined && Exit.isInterrupted(exit)) {
          const dispatched = freed(slot, state)
          return dispatched === undefined ? handBackTask(state) : Effect.zipRight(dispatched, handBackTask(state))
        }
        return outcome(slot, state, trial, timeoutMillis, exit)
      }
      if (direct !== undefined) {
        direct.finish(state.record.id)
        return outcome(slot, state, trial, timeoutMillis, exit)
      }
      return Effect.flatMap(
        Effect.orDie(queue.finish(state.record.id)),
        () => outcome(slot, state, trial, timeoutMillis, exit)
      )
    }

    const outcome = (
      slot: Slot,
      state: TaskState,
      trial: boolean,
      timeoutMillis: number,
      exit: Exit.Exit<unknown, unknown>
    ): Effect.Effect<void> => {
      const worker = slot.worker
      if (worker.removing && worker.inFlight === 0) workers.delete(worker.spec.name)
      if (Exit.isSuccess(exit)) {
        const encoded = state.type.encodeResult(exit.value)
        if (Either.isRight(encoded)) {
          worker.completed++
          state.encodedResult = encoded.right
          const recorded = record(worker, false, trial)
          if (recorded !== undefined) {
            return Effect.zipRight(
              recorded,
              freedThenFinish(slot, state, "completed", exit as Exit.Exit<unknown, TaskError>)
            )
          }
          return freedThenFinish(slot, state, "completed", exit as Exit.Exit<unknown, TaskError>)
        }
        return failed(slot, state, trial, timeoutMillis, {
          _tag: "InvalidResult",
          message: `the result does not match the result schema of "${state.type.name}": ${encoded.left.message}`
        }, false)
      }
      if (state.timedOut && Cause.isInterruptedOnly(exit.cause)) {
        const timeout = new TaskTimeout({ taskId: state.record.id, timeoutMillis, attempts: state.attempts })
        return failed(slot, state, trial, timeoutMillis, timeout, true)
      }
      if (state.cancelled !== undefined && Cause.isInterruptedOnly(exit.cause)) {
        const cancelled = new TaskCancelled({ taskId: state.record.id, reason: state.cancelled })
        return freedThenFinish(slot, state, "cancelled", Exit.fail(cancelled))
      }
      const error = Cause.failureOption(exit.cause)
      const failure = Option.isSome(error) ? error.value : Cause.squash(exit.cause)
      return failed(slot, state, trial, timeoutMillis, failure, false)
    }

    // A failed attempt: counted, then retried after the policy's delay (a
    // timer re-queues the task) or failed for good.
    // The slot goes to the next task, then the task ends.
    const freedThenFinish = (
      slot: Slot,
      state: TaskState,
      status: "completed" | "cancelled",
      exit: Exit.Exit<unknown, TaskError>
    ): Effect.Effect<void> => {
      if (shared !== undefined) {
        const next = endThenNext(slot, state, status, exit)
        if (next !== undefined) return next
      }
      const dispatched = freed(slot, state)
      if (dispatched !== undefined) return Effect.zipRight(dispatched, finish(state, status, exit))
      if (state.exit !== undefined) return Effect.void
      if (shared === undefined && (admission === undefined || state.record.grantId === undefined)) {
        done(state, status, exit)
        return Effect.void
      }
      return finish(state, status, exit)
    }

    const failed = (
      slot: Slot,
      state: TaskState,
      trial: boolean,
      timeoutMillis: number,
      failure: unknown,
      timedOut: boolean
    ): Effect.Effect<void> =>
      Effect.gen(function*() {
        const worker = slot.worker
        worker.errors++
        const recorded = record(worker, true, trial)
        if (recorded !== undefined) yield* recorded
        const dispatched = freed(slot, state)
        if (dispatched !== undefined) yield* dispatched
        const info = Failure.fromUnknown(failure)
        if (state.retryState === undefined) {
          const schedule = state.record.retry === undefined
            ? state.type.spec.retry
            : Task.overrideSchedule(state.record.retry)
          state.retryState = { schedule, state: schedule.initial }
          // Claimed after failures elsewhere: the policy is replayed to where they left it.
          for (let i = 0; i < (state.claim?.failures ?? 0); i++) {
            const [replayed, , step] = yield* schedule.step(
              clock.unsafeCurrentTimeMillis(),
              failure,
              state.retryState.state
            )
            state.retryState.state = replayed
            if (ScheduleDecision.isDone(step)) break
          }
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
        if (shared !== undefined) {
          return yield* retryShared(state, Math.max(0, ScheduleIntervals.start(decision.intervals) - now))
        }
        state.status = "retrying"
        state.retryAt = timeouts.add(
          Math.max(now, ScheduleIntervals.start(decision.intervals)),
          requeue,
          state
        )
      })

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
        return Effect.flatMap(
          Effect.either(queue.offer(state.record, { maxQueued: state.type.maxQueued, force: true })),
          (offered) => {
            if (Either.isRight(offered) && offered.right._tag === "Queued") {
              state.type.queued++
              Metrics.queueDepth.unsafeUpdate(state.type.queued, state.type.labels)
              return dispatch(state.type)
            }
            // It cannot wait in the queue for its retry: it fails for good
            // (a dead letter when a DeadLetters port is provided), never lost.
            state.status = "retrying"
            const why = Either.isLeft(offered)
              ? `the queue failed: ${offered.left.message}`
              : offered.right._tag === "Duplicate"
              ? `the queue holds its idempotency key for task ${offered.right.id}`
              : `the queue refused it (${offered.right._tag})`
            return failFinally(
              state,
              { tag: "RequeueFailed", message: `task ${state.record.id} could not be queued for its retry: ${why}` },
              false,
              state.record.timeoutMillis ?? state.type.timeoutMillis
            )
          }
        )
      })

    // A slot was freed: start what can run on it. A task of a group may
    // have held back tasks of other types in that group.
    // Over the memory queue's direct calls it is done at once (undefined).
    const freed = (slot: Slot, state: TaskState): Effect.Effect<void> | undefined => {
      if (direct === undefined) {
        return state.record.groupKey === undefined ? dispatchWorker(slot.worker, slot) : dispatchAll(slot)
      }
      for (const type of state.record.groupKey === undefined ? slot.worker.types : types.values()) {
        dispatchNow(type, slot)
      }
      return undefined
    }

    // Sends a task's dead letter; its receipt, or why it could not be written
    // (then logged, counted and published: the task still ends, as failed).
    const sendLetter = (
      state: TaskState,
      info: Failure.FailureInfo,
      timeoutMillis: number,
      attempts: number,
      extra: Record<string, number | string> = {}
    ): Effect.Effect<Either.Either<{ readonly letterId: string }, string>> =>
      Effect.gen(function*() {
        const id = state.record.id
        const sent = yield* Effect.either(
          Effect.suspend(() =>
            (deadLetters as Option.Some<DeadLetters.DeadLettersService>).value.send({
              source: "supervisor",
              taskType: state.type.name,
              taskId: id,
              attempt: attempts,
              attempts,
              payload: state.record.payload as never,
              error: info,
              ...(state.record.agentId === undefined ? {} : { agent: state.record.agentId }),
              firstAttemptAt: state.firstAttemptAt,
              lastAttemptAt: state.lastAttemptAt,
              context: {
                priority: state.record.priority,
                timeoutMillis,
                ...(state.record.groupKey === undefined ? {} : { groupKey: state.record.groupKey }),
                ...extra
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
          return Either.right({ letterId: sent.right.letterId as string })
        }
        const message = sent.left.message
        Metrics.deadLetterFailures.unsafeUpdate(1, state.type.labels)
        yield* Effect.logError(`supervisor: the dead letter of task ${id} could not be written: ${message}`, info)
        yield* publish({ _tag: "DeadLetterFailed", taskId: id, taskType: state.type.name, message })
        return Either.left(message)
      })

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
        const sent = yield* sendLetter(state, info, timeoutMillis, Math.max(1, state.attempts))
        if (Either.isRight(sent)) {
          return yield* finish(
            state,
            "dead-lettered",
            Exit.fail(
              new TaskDeadLettered({ taskId: id, letterId: sent.right.letterId, attempts: state.attempts, error: info })
            )
          )
        }
        return yield* finish(
          state,
          "failed",
          Exit.fail(new TaskFailed({ taskId: id, attempts: state.attempts, error: info, deadLetterError: sent.left }))
        )
      })

    // A poison task (its deliveries lost to runners that died): never run
    // again, whatever its retry policy; a dead letter when a DeadLetters port
    // is provided, and `TaskPoisoned` for whoever awaits or looks it up.
    const poisonFinally = (state: TaskState, claim: TaskQueue.Claim, timeoutMillis: number) =>
      Effect.gen(function*() {
        const fields = {
          taskId: state.record.id,
          deliveries: claim.deliveries,
          lostDeliveries: claim.lostDeliveries,
          failures: claim.failures
        }
        if (Option.isNone(deadLetters)) return yield* finish(state, "failed", Exit.fail(new TaskPoisoned(fields)))
        const info: Failure.FailureInfo = {
          tag: "PoisonTask",
          message: `${claim.lostDeliveries} deliveries of task ${state.record.id} were lost to runners that died`
        }
        // Every delivery before this one started an attempt (lost, or failed in a handler).
        const sent = yield* sendLetter(state, info, timeoutMillis, Math.max(1, claim.deliveries - 1), {
          cause: "lost-deliveries",
          deliveries: claim.deliveries,
          lostDeliveries: claim.lostDeliveries,
          failures: claim.failures
        })
        return yield* Either.isRight(sent)
          ? finish(state, "dead-lettered", Exit.fail(new TaskPoisoned({ ...fields, letterId: sent.right.letterId })))
          : finish(state, "failed", Exit.fail(new TaskPoisoned({ ...fields, deadLetterError: sent.left })))
      })

    // ---- ending a task: exactly once ----

    // The one path that settles a grant: committed with the usage reported,
    // else released; a failure is logged, counted and published, never lost.
    const settleGrantId = (
      taskId: Ids.TaskId,
      grantId: string | undefined,
      usage: TokenUsage.TokenUsage | undefined
    ): Effect.Effect<void> => {
      if (admission === undefined || grantId === undefined) return Effect.void
      const settle = usage === undefined ? admission.release(grantId) : admission.commit(grantId, usage)
      return settle.pipe(
        Effect.catchAllCause((cause) => {
          const message = Cause.pretty(cause)
          Metrics.grantSettleFailures.unsafeUpdate(1, Metrics.noLabels)
          return Effect.zipRight(
            Effect.logError(`supervisor: the admission grant of task ${taskId} could not be settled`, cause),
            publish({ _tag: "GrantSettleFailed", taskId, message })
          )
        }),
        Effect.zipRight(Effect.sync(() => settled.fire()))
      )
    }

    const settleGrant = (state: TaskState) => {
      if (state.grantSettled) return Effect.void
      state.grantSettled = true
      return settleGrantId(state.record.id, state.record.grantId, state.usage)
    }

    // A task's end, once recorded: its grant settled, then its exit.
    const settledEnd = (
      state: TaskState,
      status: "completed" | "failed" | "cancelled" | "dead-lettered",
      exit: Exit.Exit<unknown, TaskError>
    ): Effect.Effect<void> => {
      const complete = Effect.sync(() => done(state, status, exit))
      return admission === undefined || state.record.grantId === undefined
        ? complete
        : Effect.zipRight(settleGrant(state), complete)
    }

    const finish = (
      state: TaskState,
      status: "completed" | "failed" | "cancelled" | "dead-lettered",
      exit: Exit.Exit<unknown, TaskError>
    ): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (state.exit !== undefined) return Effect.void
        const settled = settledEnd(state, status, exit)
        if (shared === undefined) return settled
        if (state.claim === undefined || state.gone) return Effect.sync(() => abandon(state))
        // Recorded in the queue first, fenced by the lease: a runner that lost
        // it records nothing and leaves the grant to the task's new runner.
        return Effect.flatMap(
          queue.end(state.record.id, state.claim.token, outcomeOf(state, status, exit)).pipe(
            Effect.catchAllCause((cause) =>
              Effect.as(
                Effect.logError(`supervisor: the end of task ${state.record.id} could not be recorded`, cause),
                false
              )
            )
          ),
          (recorded) => recorded ? settled : Effect.sync(() => abandon(state))
        )
      })

    const done = (
      state: TaskState,
      status: "completed" | "failed" | "cancelled" | "dead-lettered",
      exit: Exit.Exit<unknown, TaskError>
    ) => {
      if (state.exit !== undefined) return
      if (shared !== undefined) leasedRunning.delete(state)
      const now = clock.unsafeCurrentTimeMillis()
      state.status = status
      state.exit = exit
      state.slot = undefined
      state.retryState = undefined
      state.finishedAt = now
      activeCount--
      retainedCount++
      finishedOrder.push(state)
      evict(now)
      Metrics.tasks.unsafeUpdate(1, Metrics.outcomeLabels[status])
      if (state.deferred !== undefined) Deferred.unsafeDone(state.deferred, exit)
      if (activeCount === 0) idle.fire()
    }

    // Finished tasks in the order they finished. A queue with a moving head,
    // not the Map's own order: iterating a Map from its start walks over the
    // holes its deletions left, which made every eviction cost O(evicted).
    let finishedOrder: Array<TaskState> = []
    let finishedHead = 0
    const evict = (now: number) => {
      while (finishedHead < finishedOrder.length) {
        const state = finishedOrder[finishedHead]!
        const current = tasks.get(state.record.id) === state
        if (
          current && retainedCount <= config.results.maxCount &&
          state.finishedAt + config.results.retentionMillis > now
        ) break
        finishedOrder[finishedHead++] = undefined as never
        if (!current) continue
        tasks.delete(state.record.id)
        retainedCount--
        const key = state.record.idempotencyKey
        if (key !== undefined && byKey.get(key) === state) byKey.delete(key)
      }
      if (finishedHead > 1024 && finishedHead * 2 > finishedOrder.length) {
        finishedOrder = finishedOrder.slice(finishedHead)
        finishedHead = 0
      }
    }

    // The task's outcome, once it has ended.
    const awaitExit = (state: TaskState): Effect.Effect<unknown, TaskError> =>
      Effect.suspend(() => {
        if (state.exit !== undefined) return state.exit
        if (state.deferred === undefined) state.deferred = Deferred.unsafeMake(FiberId.none)
        return Deferred.await(state.deferred)
      })

    const lookup = (id: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const state = tasks.get(id)
        if (state === undefined) return Effect.fail(new TaskNotFound({ taskId: id }))
        if (state.exit !== undefined && state.finishedAt + config.results.retentionMillis <= now) {
          evict(now)
          if (tasks.get(id) === state) {
            tasks.delete(id)
            retainedCount--
          }
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
        const ended = Effect.asVoid(Effect.exit(awaitExit(state)))
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
        if (state.inHandler && state.slot !== undefined) interruptSlot(state.slot)
        return ended
      })

    // A handle builds its effects when they are used, not at submit.
    class Handle implements Task.TaskHandle<unknown> {
      constructor(private readonly state: TaskState) {}
      get id() {
        return this.state.record.id
      }
      get await() {
        return awaitExit(this.state)
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
      if (request.agentId !== undefined && !isAgentId(request.agentId)) {
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
      if (request.retry !== undefined && !isRetryOverride(request.retry)) {
        return "retry must be { maxAttempts: 1–1000, backoffMillis?: 0–86400000 }"
      }
      return undefined
    }

    const backpressure = (type: TypeEntry) => {
      Metrics.rejections.unsafeUpdate(1, Metrics.backpressureLabels)
      return backpressureError(type)
    }

    const backpressureError = (type: TypeEntry) => {
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

    // The queue of `type` became full: remembered, and a timer publishes
    // `QueueSaturated` when it stays full past `queueSaturatedAfter`.
    const markFull = (type: TypeEntry) => {
      if (type.fullSince !== undefined) return
      const epoch = ++type.fullEpoch
      type.fullSince = clock.unsafeCurrentTimeMillis()
      startTimer(
        Effect.gen(function*() {
          yield* Effect.sleep(Duration.millis(config.queueSaturatedAfterMillis))
          if (type.fullEpoch !== epoch || type.fullSince === undefined) return
          const at = yield* Clock.currentTimeMillis
          yield* publish({ _tag: "QueueSaturated", taskType: type.name, fullForMillis: at - type.fullSince })
        })
      )
    }

    const submit = <R>(request: Task.SubmitRequest<R>): Effect.Effect<Task.TaskHandle<R>, Supervisor.SubmitError> =>
      submitOrWait(request, false) as Effect.Effect<Task.TaskHandle<R>, Supervisor.SubmitError>

    // `submit`; with `wait`, a full queue answers `Wait` (the refusal is
    // counted, its error made only if `submitWait` gives up).
    // `bound` limits the admission policies' call (submitWait's timeout).
    const submitOrWait = <R>(
      request: Task.SubmitRequest<R>,
      wait: boolean,
      bound?: Bound
    ): Effect.Effect<Task.TaskHandle<R> | typeof Wait, Supervisor.SubmitError> =>
      Effect.withFiberRuntime((fiber) => {
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
        if (shared === undefined && type.queued >= type.maxQueued) {
          markFull(type)
          if (wait) {
            Metrics.rejections.unsafeUpdate(1, Metrics.backpressureLabels)
            return Effect.succeed(Wait)
          }
          return Effect.fail(backpressure(type))
        }
        // The submitter's span, the parent of the task's spans.
        const span = config.tracing ? fiber.currentSpan : undefined
        if (nextId !== undefined && admission === undefined) {
          return accept(type, request, decoded.right, nextId() as Ids.TaskId, undefined, span) as Effect.Effect<
            Task.TaskHandle<R>,
            Supervisor.SubmitError
          >
        }
        const admitted = Effect.flatMap(
          ids.next,
          (id) =>
            admit(type, request, decoded.right, id as Ids.TaskId, span, bound) as Effect.Effect<
              Task.TaskHandle<R>,
              any
            >
        )
        // A shared queue keeps the keys: a key it holds answers before any
        // policy is asked, as `byKey` does in one process.
        if (shared === undefined || key === undefined) return admitted
        return Effect.flatMap(
          queue.keyHolder(key),
          (held): Effect.Effect<Task.TaskHandle<R>, Supervisor.SubmitError> =>
            Option.isSome(held)
              ? Effect.succeed(new StoredHandle(held.value as Ids.TaskId) as Task.TaskHandle<R>)
              : admitted
        )
      })

    // Asks the admission policies (when there are any), then accepts the task.
    const admit = (
      type: TypeEntry,
      request: Task.SubmitRequest<any>,
      payload: unknown,
      id: Ids.TaskId,
      span: Tracer.AnySpan | undefined,
      bound?: Bound
    ): Effect.Effect<Task.TaskHandle<unknown>, Supervisor.SubmitError> => {
      if (admission === undefined) return accept(type, request, payload, id, undefined, span)
      const asked = admission.admit({
        taskId: id,
        taskType: type.name,
        ...(request.agentId === undefined ? {} : { agentId: request.agentId as Ids.AgentId }),
        ...(request.estimatedTokens === undefined ? {} : { estimatedTokens: request.estimatedTokens }),
        priority: request.priority ?? 0
      })
      // The grant step is never cut: a policy may hold what it grants before
      // its `admit` returns, so an interrupt inside it could leave a grant
      // nobody knows of. It runs uninterruptibly in a fiber of its own
      // (`disconnect`), so that a submit that gives up meanwhile (a
      // `submitWait` timeout, a caller gone) still returns at once; the
      // grant, once given, then has exactly one owner: the submit, which
      // queues the task or releases it, or — when the submit has left — the
      // step itself, which releases it. Once a grant is given the task is
      // queued (or the grant released) without interruption too.
      return Effect.uninterruptibleMask((restore) => {
        let given: AdmissionPolicy.AdmissionGrant | undefined
        let left = false
        const step = Effect.flatMap(
          asked,
          (grant) =>
            Effect.suspend(() => {
              // Nobody reads this answer: the submit has left.
              if (left) return Effect.as(releaseGrant(id, grant.id), grant)
              given = grant
              return Effect.succeed(grant)
            })
        )
        const granted = Effect.disconnect(Effect.uninterruptible(step))
        return restore(bound === undefined ? granted : bound(granted)).pipe(
          Effect.onExit((exit) =>
            Effect.suspend(() => {
              if (Exit.isSuccess(exit)) return Effect.void
              // The submit leaves: a grant given meanwhile (the step won the
              // race but its answer was not taken) is released here; one
              // still to come is released by the step.
              left = true
              return given === undefined ? Effect.void : releaseGrant(id, given.id)
            })
          ),
          Effect.tapError(() => Effect.sync(() => Metrics.rejections.unsafeUpdate(1, Metrics.admissionLabels))),
          Effect.flatMap((grant) => accept(type, request, payload, id, grant.id, span))
        )
      })
    }

    // Queues an accepted task (its grant, if any, is released when it cannot
    // be queued after all) and dispatches its type.
    const accept = (
      type: TypeEntry,
      request: Task.SubmitRequest<any>,
      payload: unknown,
      id: Ids.TaskId,
      grantId: string | undefined,
      span: Tracer.AnySpan | undefined
    ): Effect.Effect<Task.TaskHandle<unknown>, Supervisor.SubmitError> => {
      // Checked again: a policy may have let other fibers run.
      if (closed) return Effect.zipRight(releaseGrant(id, grantId), Effect.fail(new SupervisorClosed()))
      const key = request.idempotencyKey
      if (key !== undefined) {
        const existing = byKey.get(key)
        if (existing !== undefined) return Effect.as(releaseGrant(id, grantId), handleOf(existing))
      }
      const now = clock.unsafeCurrentTimeMillis()
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
      if (span !== undefined) fields.trace = { traceId: span.traceId, spanId: span.spanId }
      const record: Task.TaskRecord = fields
      if (shared !== undefined) return acceptShared(type, record, grantId)
      const state = newTaskState(record, type, payload, now, 0, undefined)
      // Registered before it is queued: a dispatch may take it at once.
      const previous = tasks.get(id)
      if (previous?.exit !== undefined) retainedCount-- // an id given again (by an IdGenerator of the application's)
      tasks.set(id, state)
      activeCount++
      if (key !== undefined) byKey.set(key, state)
      if (direct !== undefined) {
        let offered: TaskQueue.OfferResult
        try {
          offered = direct.offer(record, type.offerOptions)
        } catch (defect) {
          unregister(state)
          return Effect.zipRight(releaseGrant(id, grantId), Effect.die(defect))
        }
        return queued(state, grantId, offered)
      }
      // Registered here before the offer: not interrupted until the queue has answered.
      return Effect.uninterruptible(Effect.flatMap(
        queue.offer(record, type.offerOptions).pipe(
          Effect.tapErrorCause(() => Effect.zipRight(Effect.sync(() => unregister(state)), releaseGrant(id, grantId)))
        ),
        (offered) => queued(state, grantId, offered)
      ))
    }

    // A grant given for a task that was not queued after all: released.
    const releaseGrant = (taskId: Ids.TaskId, grantId: string | undefined): Effect.Effect<void> =>
      settleGrantId(taskId, grantId, undefined)

    // The grant of a stored task that ended without a runner here (another
    // process's reclaim or cancel, or dropped by `clear`): committed with the
    // usage it carries from the processes that ran it, else released.
    const settleStored = (task: Task.TaskRecord): Effect.Effect<void> =>
      settleGrantId(task.id, task.grantId, task.usage)

    const unregister = (state: TaskState) => {
      tasks.delete(state.record.id)
      activeCount--
      const key = state.record.idempotencyKey
      if (key !== undefined && byKey.get(key) === state) byKey.delete(key)
    }

    // What the queue answered an accepted task's offer.
    const queued = (
      state: TaskState,
      grantId: string | undefined,
      offered: TaskQueue.OfferResult
    ): Effect.Effect<Task.TaskHandle<unknown>, Supervisor.SubmitError> => {
      const type = state.type
      const id = state.record.id
      if (offered._tag === "Duplicate") {
        // The service remembers its keys before the queue does: a queue of
        // one's own that holds a key longer answers with its task. (What an
        // earlier run left in the queue was dropped when this one was built.)
        const existing = tasks.get(offered.id)
        unregister(state)
        return Effect.zipRight(
          releaseGrant(id, grantId),
          existing === undefined
            ? Effect.fail(
              new StoreError({
                operation: "offer",
                cause: `the queue holds the idempotency key of task ${id} for unknown task ${offered.id}`
              })
            )
            : Effect.succeed(handleOf(existing))
        )
      }
      if (offered._tag === "Full") {
        unregister(state)
        type.queued = offered.depth
        markFull(type)
        return Effect.zipRight(releaseGrant(id, grantId), Effect.fail(backpressure(type)))
      }
      type.queued++
      Metrics.queueDepth.unsafeUpdate(type.queued, type.labels)
      if (type.queued >= type.maxQueued) markFull(type)
      const dispatched = dispatchNow(type, undefined)
      const handle = handleOf(state)
      return dispatched === undefined ? Effect.succeed(handle) : Effect.as(dispatched, handle)
    }

    // A submit's wait is bounded by submitWait's timeout, but never the step
    // that queues a task already granted: a task queued is never answered
    // with a refusal.
    const submitWait = <R>(
      request: Task.SubmitRequest<R>,
      waitOptions?: { readonly timeout?: Duration.DurationInput }
    ): Effect.Effect<Task.TaskHandle<R>, Supervisor.SubmitError> => {
      // The last refusal: an error, or the type whose queue was full.
      let last: Supervisor.SubmitError | TypeEntry | undefined
      const name = typeof request.type === "string" ? request.type : request.type?.name
      // Before any refusal (the timeout passed in the first admission call):
      // the type's backpressure, unless the supervisor closed meanwhile.
      const refusal = (): Supervisor.SubmitError => {
        if (last !== undefined) return "_tag" in last ? last : backpressureError(last)
        const type = types.get(name)
        return closed || type === undefined ? new SupervisorClosed() : backpressureError(type)
      }
      let deadline = Infinity
      const bound: Bound | undefined = waitOptions?.timeout === undefined ? undefined : <A, E>(
        effect: Effect.Effect<A, E>
      ) =>
        Effect.suspend(() =>
          Effect.timeoutFail(effect, {
            duration: Duration.millis(Math.max(0, deadline - clock.unsafeCurrentTimeMillis())),
            onTimeout: refusal
          })
        )
      const wait = (wake: Effect.Effect<void>) => bound === undefined ? wake : bound(wake)
      const attempt: Effect.Effect<Task.TaskHandle<R>, Supervisor.SubmitError> = Effect.suspend(() => {
        const type = types.get(name)
        // Taken before asking, so a slot freed in between is not missed.
        const space = type?.space.next()
        const grants = admission === undefined ? undefined : settled.next()
        return Effect.catchIf(
          Effect.flatMap(submitOrWait(request, true, bound), (submitted) => {
            if (submitted !== Wait) return Effect.succeed(submitted)
            last = type
            return Effect.zipRight(wait(Deferred.await(space!)), attempt)
          }),
          (error) =>
            error._tag === "Backpressure" || error._tag === "AdmissionRejected" ||
            error._tag === "AdmissionUnavailable",
          (error) => {
            last = error
            // On a shared queue other processes' starts make room too: asked again after a poll interval.
            const wake = error._tag === "Backpressure"
              ? shared === undefined
                ? Deferred.await(space!)
                : Effect.race(Deferred.await(space!), Effect.sleep(Duration.millis(shared.pollMillis)))
              : error._tag === "AdmissionUnavailable"
              ? Effect.sleep(Duration.millis(error.retryAfterMillis ?? 1_000))
              : Effect.race(
                grants === undefined ? Effect.never : Deferred.await(grants),
                Effect.sleep(Duration.millis(error.retryAfterMillis ?? 1_000))
              )
            return Effect.zipRight(wait(wake), attempt)
          }
        )
      })
      if (waitOptions?.timeout === undefined) return attempt
      const timeout = Duration.decode(waitOptions.timeout)
      return Effect.suspend(() => {
        deadline = clock.unsafeCurrentTimeMillis() + Duration.toMillis(timeout)
        return attempt
      })
    }

    // ---- a queue shared with other processes ----

    const claimOptions: TaskQueue.ClaimOptions | undefined = shared === undefined ? undefined : {
      limits,
      holder: shared.holder,
      leaseMillis: shared.leaseMillis
    }

    const logged = (what: string) => (cause: Cause.Cause<unknown>) =>
      Effect.logWarning(`supervisor: ${what} failed`, cause)

    // Queues an accepted task in the shared queue (the queue checks its
    // type's bound in the insert's transaction) and dispatches its type here.
    const acceptShared = (
      type: TypeEntry,
      record: Task.TaskRecord,
      grantId: string | undefined
    ): Effect.Effect<Task.TaskHandle<unknown>, Supervisor.SubmitError> =>
      Effect.flatMap(
        queue.offer(record, type.offerOptions).pipe(Effect.tapErrorCause(() => releaseGrant(record.id, grantId))),
        (offered): Effect.Effect<Task.TaskHandle<unknown>, Supervisor.SubmitError> => {
          // The key is held by a task the queue keeps (submitted here or in
          // another process): that task is the answer; this grant is unused.
          if (offered._tag === "Duplicate") {
            return Effect.as(releaseGrant(record.id, grantId), new StoredHandle(offered.id as Ids.TaskId))
          }
          type.queued = offered.depth
          Metrics.queueDepth.unsafeUpdate(type.queued, type.labels)
          if (offered._tag === "Full") {
            markFull(type)
            return Effect.zipRight(releaseGrant(record.id, grantId), Effect.fail(backpressure(type)))
          }
          if (type.queued >= type.maxQueued) markFull(type)
          return Effect.as(dispatchShared(type, undefined), new StoredHandle(record.id))
        }
      )

    // Claims and starts tasks of `type` while a capable worker has a free
    // slot (reserved before the claim, as in `dispatchVia`).
    const dispatchShared = (type: TypeEntry, current: Slot | undefined): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (closed) return Effect.void
        const worker = pickWorker(type)
        if (worker === undefined) return Effect.void
        const trial = worker.circuit === "half-open"
        worker.inFlight++
        usedSlots++
        return Effect.flatMap(
          queue.claim(type.name, claimOptions!).pipe(
            Effect.catchAllCause((cause) => Effect.as(logged("claim")(cause), Option.none<TaskQueue.Claim>()))
          ),
          (claimed): Effect.Effect<void> => {
            if (Option.isNone(claimed)) {
              worker.inFlight--
              usedSlots--
              return Effect.void
            }
            return Effect.zipRight(
              startClaimed(worker, type, claimed.value, trial, current),
              dispatchShared(type, current)
            )
          }
        )
      })

    // Starts a task claimed on a slot reserved for it on `worker`; a poison
    // task, or one whose payload this process cannot read, is never run: it
    // gives the slot back and ends as failed or dead-lettered.
    const startClaimed = (
      worker: WorkerState,
      type: TypeEntry,
      claim: TaskQueue.Claim,
      trial: boolean,
      current: Slot | undefined
    ): Effect.Effect<void> => {
      if (type.queued > 0) onQueueShrank(type)
      const decoded = type.decode(claim.record.payload)
      const state = claimedState(type, claim, Either.isRight(decoded) ? decoded.right : undefined)
      // Leased until its end is recorded, run or not.
      leasedRunning.add(state)
      const timeoutMillis = claim.record.timeoutMillis ?? type.timeoutMillis
      if (claim.poisoned) {
        worker.inFlight--
        usedSlots--
        return poisonFinally(state, claim, timeoutMillis)
      }
      if (Either.isLeft(decoded)) {
        worker.inFlight--
        usedSlots--
        // Its payload cannot be read here: this delivery is its failed attempt.
        state.attempts = claim.failures + 1
        const failure = new InvalidPayload({ taskType: type.name, message: decoded.left.message })
        return failFinally(state, Failure.fromUnknown(failure), false, timeoutMillis)
      }
      // Claimed while a `handBack` shutdown runs (the claim was sent before
      // the scope closed): back to the queue unrun, never cancelled for good.
      if (closed && config.shutdown.mode === "handBack") state.handBack = true
      launch(worker, state, trial, current)
      return Effect.void
    }

    const hasGroupLimits = limits.default !== undefined || Object.keys(limits.byGroup ?? {}).length > 0

    // A slot whose task ended records the end and claims its next task in
    // one step (`endThenClaim`), when its worker takes only this type and no
    // group limit is involved; undefined otherwise (the end, then a dispatch).
    const endThenNext = (
      slot: Slot,
      state: TaskState,
      status: "completed" | "cancelled",
      exit: Exit.Exit<unknown, TaskError>
    ): Effect.Effect<void> | undefined => {
      const worker = slot.worker
      const claim = state.claim
      const type = state.type
      if (
        claim === undefined || state.gone || state.exit !== undefined || closed || hasGroupLimits ||
        worker.types.length !== 1 || worker.types[0] !== type || freeSlots(worker) <= 0
      ) return undefined
      const trial = worker.circuit === "half-open"
      worker.inFlight++
      usedSlots++
      const id = state.record.id
      return Effect.flatMap(
        queue.endThenClaim(
          { id, token: claim.token, outcome: outcomeOf(state, status, exit) },
          type.name,
          claimOptions!
        )
          .pipe(
            Effect.catchAllCause((cause) =>
              Effect.as(logged(`the end of task ${id}`)(cause), { ended: false, next: Option.none<TaskQueue.Claim>() })
            )
          ),
        ({ ended, next }) => {
          const settled = ended ? settledEnd(state, status, exit) : Effect.sync(() => abandon(state))
          if (Option.isNone(next)) {
            worker.inFlight--
            usedSlots--
            return settled
          }
          // A task that was not run (poison) leaves the slot free: dispatched again.
          return Effect.zipRight(
            startClaimed(worker, type, next.value, trial, slot),
            Effect.zipRight(
              settled,
              Effect.suspend(() => slot.next === undefined ? dispatchShared(type, slot) : Effect.void)
            )
          )
        }
      )
    }

    // The local state of a task claimed here.
    const claimedState = (type: TypeEntry, claim: TaskQueue.Claim, payload: unknown): TaskState => {
      const id = claim.record.id
      const now = clock.unsafeCurrentTimeMillis()
      const previous = tasks.get(id)
      if (previous !== undefined && previous.exit === undefined) {
        // Its lease ran out here (a pause past it) and it was claimed again:
        // the old attempt records nothing and its handler is stopped.
        const slot = previous.inHandler ? previous.slot : undefined
        abandon(previous)
        if (slot !== undefined) interruptSlot(slot)
      } else if (previous !== undefined) retainedCount--
      const state = newTaskState(claim.record, type, payload, now, claim.failures, {
        token: claim.token,
        failures: claim.failures
      })
      // The usage reported where it ran before (a retry, a hand-back): committed with the rest.
      state.usage = claim.record.usage
      tasks.set(id, state)
      activeCount++
      return state
    }

    // The task left this process without ending here (retried, or its lease
    // lost): its local state goes; a local waiter follows it in the queue.
    const abandon = (state: TaskState) => {
      if (state.exit !== undefined || state.gone) return
      state.gone = true
      state.leaseLost = true
      leasedRunning.delete(state)
      state.claim = undefined
      if (tasks.get(state.record.id) === state) tasks.delete(state.record.id)
      activeCount--
      if (activeCount === 0) idle.fire()
      const deferred = state.deferred
      if (deferred !== undefined) {
        fork(Effect.flatMap(awaitStored(state.record.id), (exit) => Deferred.done(deferred, exit)))
      }
    }

    // A failed attempt to retry after `delayMillis`: recorded in the queue
    // (fenced), then the task waits there; a timer here queues it again when
    // due (the poll of any process does too).
    const retryShared = (state: TaskState, delayMillis: number): Effect.Effect<void> => {
      const claim = state.claim
      if (claim === undefined) return Effect.void
      const id = state.record.id
      return Effect.flatMap(
        queue.retry(id, claim.token, Math.ceil(delayMillis), state.usage).pipe(
          Effect.catchAllCause((cause) =>
            Effect.as(logged(`the retry of task ${id}`)(cause), { _tag: "Lost" } as TaskQueue.RequeueResult)
          )
        ),
        (retried) => {
          // A cancel was asked while the attempt ran: the queue ended it.
          if (retried._tag === "Cancelled") return endedByQueue(state)
          return Effect.sync(() => {
            state.status = "retrying"
            abandon(state)
            if (retried._tag === "Lost") return
            startTimer(Effect.zipRight(
              Effect.sleep(Duration.millis(delayMillis)),
              Effect.zipRight(reclaimShared, dispatch(state.type))
            ))
          })
        }
      )
    }

    // A task stopped by a `handBack` shutdown: released to the queue (no
    // failure, no lost delivery counted) for any process to run, with the
    // usage reported so far stored in its record; its grant is settled, with
    // that usage and the rest, by the process that ends it. Ended as
    // cancelled instead when a cancel was asked meanwhile.
    const handBackTask = (state: TaskState): Effect.Effect<void> => {
      const claim = state.claim
      if (claim === undefined) return Effect.void
      const id = state.record.id
      return Effect.flatMap(
        queue.release(id, claim.token, state.usage).pipe(
          Effect.catchAllCause((cause) =>
            // Its lease then expires and it is reclaimed (as a lost delivery).
            Effect.as(logged(`the hand-back of task ${id}`)(cause), { _tag: "Lost" } as TaskQueue.RequeueResult)
          )
        ),
        (released) => {
          if (released._tag === "Cancelled") return endedByQueue(state)
          return Effect.sync(() => {
            state.status = "queued"
            abandon(state)
          })
        }
      )
    }

    // A claimed task the queue ended as cancelled (a cancel asked while it
    // ran, seen by its retry or hand-back): its grant settled here, its end
    // reported to local waiters.
    const endedByQueue = (state: TaskState): Effect.Effect<void> =>
      Effect.suspend(() => {
        leasedRunning.delete(state)
        state.claim = undefined
        return settledEnd(
          state,
          "cancelled",
          Exit.fail(new TaskCancelled({ taskId: state.record.id, reason: state.cancelled ?? "cancelled" }))
        )
      })

    // Tasks whose runner died with a cancel asked end at reclaim, in
    // whichever process reclaims them: that process releases their grants.
    const reclaimShared = Effect.suspend(() =>
      queue.reclaim({ maxDeliveries: shared!.maxDeliveries }).pipe(
        Effect.flatMap((reclaimed) => Effect.forEach(reclaimed.cancelledTasks, settleStored, { discard: true })),
        Effect.catchAllCause(logged("reclaim"))
      )
    )

    // The errors a task can end with, as stored.
    const TaskErrorSchema = Schema.Union(TaskFailed, TaskTimeout, TaskCancelled, TaskDeadLettered, TaskPoisoned)
    const encodeError = Schema.encodeSync(TaskErrorSchema)
    const decodeError = Schema.decodeUnknownEither(TaskErrorSchema)

    const outcomeOf = (
      state: TaskState,
      status: "completed" | "failed" | "cancelled" | "dead-lettered",
      exit: Exit.Exit<unknown, TaskError>
    ): TaskQueue.Outcome => {
      if (status === "completed") return { status, result: state.encodedResult }
      const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      return {
        status,
        error: Option.isSome(error)
          ? encodeError(error.value)
          : {
            _tag: "TaskFailed",
            taskId: state.record.id,
            attempts: state.attempts,
            error: { tag: "Unknown", message: status }
          }
      }
    }

    // The exit of a task that ended, from its stored record.
    const exitOfStored = (stored: TaskQueue.StoredTask): Exit.Exit<unknown, TaskError> => {
      const outcome = stored.outcome
      const id = stored.record.id
      if (outcome?.status === "completed") {
        const type = types.get(stored.record.type)
        if (type === undefined) return Exit.succeed(outcome.result)
        const decoded = Schema.decodeUnknownEither(type.spec.result as Schema.Schema<unknown, unknown>)(outcome.result)
        return Either.isRight(decoded) ? Exit.succeed(decoded.right) : Exit.fail(
          new TaskFailed({
            taskId: id,
            attempts: stored.failures,
            error: { tag: "InvalidResult", message: decoded.left.message }
          })
        )
      }
      const decoded = decodeError(outcome?.error)
      return Exit.fail(
        Either.isRight(decoded) ? decoded.right : new TaskFailed({
          taskId: id,
          attempts: stored.failures,
          error: { tag: "Unknown", message: `task ${id} ended ${stored.status}` }
        })
      )
    }

    // Waits for a task's end as the queue records it, polling (from 5 ms up
    // to the poll interval); a task no longer known fails as TaskFailed.
    const awaitStored = (id: string): Effect.Effect<Exit.Exit<unknown, TaskError>> =>
      Effect.gen(function*() {
        let wait = 5
        for (;;) {
          const stored = yield* queue.status(id).pipe(
            Effect.catchAllCause((cause) => Effect.as(logged(`the status of task ${id}`)(cause), undefined))
          )
          if (stored !== undefined) {
            if (Option.isNone(stored)) {
              return Exit.fail(
                new TaskFailed({
                  taskId: id,
                  attempts: 0,
                  error: { tag: "TaskNotFound", message: `task ${id} is no longer kept` }
                })
              )
            }
            if (Task.isTerminal(stored.value.status)) return exitOfStored(stored.value)
          }
          yield* Effect.sleep(Duration.millis(wait))
          wait = Math.min(shared?.pollMillis ?? 1_000, wait * 2)
        }
      })

    // A task by id: its local state while it runs here or its end is kept
    // here, else its record in the queue.
    const storedOrLocal = (
      id: string
    ): Effect.Effect<
      { readonly state: TaskState } | { readonly stored: TaskQueue.StoredTask },
      TaskNotFound | StoreError
    > =>
      Effect.suspend((): Effect.Effect<
        { readonly state: TaskState } | { readonly stored: TaskQueue.StoredTask },
        TaskNotFound | StoreError
      > => {
        const state = tasks.get(id)
        if (state !== undefined && state.exit === undefined) return Effect.succeed({ state })
        return Effect.flatMap(queue.status(id), (stored) =>
          Option.isSome(stored)
            ? Effect.succeed({ stored: stored.value })
            : Effect.fail(new TaskNotFound({ taskId: id })))
      })

    // Cancels a task by id through the queue: a queued one ends here (and
    // its grant is released here), a running one is asked to stop — its
    // runner sees it when it renews its lease — and this waits for its end.
    const cancelShared = (id: string): Effect.Effect<void, TaskNotFound | StoreError> =>
      Effect.suspend(() => {
        const state = tasks.get(id)
        if (state !== undefined && state.exit === undefined) return cancelTask(state, "cancelled")
        return Effect.flatMap(queue.cancel(id), (result): Effect.Effect<void, TaskNotFound | StoreError> => {
          switch (result._tag) {
            case "NotFound":
              return Effect.fail(new TaskNotFound({ taskId: id }))
            case "Ended":
              return Effect.void
            case "Requested":
              return Effect.asVoid(awaitStored(id))
            case "Cancelled":
              return settleStored(result.record)
          }
        })
      })

    // Renews the leases of the tasks running here; a lost lease or a cancel
    // asked in another process interrupts the handler.
    const renewAll = Effect.suspend(() =>
      Effect.forEach([...leasedRunning], (state) => {
        const claim = state.claim
        if (claim === undefined) return Effect.void
        return queue.renew(state.record.id, claim.token, shared!.leaseMillis).pipe(
          Effect.map((renewed) => {
            if (renewed._tag === "Lost") state.leaseLost = true
            else if (renewed.cancelRequested && state.cancelled === undefined) state.cancelled = "cancelled"
            else return
            if (state.inHandler && state.slot !== undefined) interruptSlot(state.slot)
          }),
          Effect.catchAllCause(logged(`the lease renewal of task ${state.record.id}`))
        )
      }, { concurrency: 8, discard: true })
    )

    // A handle of a task in the shared queue: it follows the task wherever it runs.
    class StoredHandle implements Task.TaskHandle<unknown> {
      constructor(readonly id: Ids.TaskId) {}
      get await() {
        return Effect.flatten(Effect.suspend(() => {
          const state = tasks.get(this.id)
          return state !== undefined ? Effect.exit(awaitExit(state)) : awaitStored(this.id)
        }))
      }
      get poll() {
        return Effect.suspend(() => {
          const state = tasks.get(this.id)
          if (state !== undefined) return Effect.succeed(Option.fromNullable(state.exit))
          return queue.status(this.id).pipe(
            Effect.map((stored) =>
              Option.isSome(stored) && Task.isTerminal(stored.value.status)
                ? Option.some(exitOfStored(stored.value))
                : Option.none()
            ),
            Effect.orElseSucceed(() => Option.none())
          )
        })
      }
      get cancel() {
        return Effect.ignoreLogged(cancelShared(this.id))
      }
    }

    if (shared !== undefined) {
      // The poll: expired leases reclaimed, due retries queued, every type
      // dispatched (what a lost notification missed), old ends purged.
      let polls = 0
      startTimer(Effect.forever(Effect.zipRight(
        Effect.sleep(Duration.millis(shared.pollMillis)),
        Effect.suspend(() => {
          const purge = ++polls % 60 === 0
            ? queue.purge({ retentionMillis: config.results.retentionMillis, maxCount: config.results.maxCount }).pipe(
              Effect.asVoid,
              Effect.catchAllCause(logged("purge"))
            )
            : Effect.void
          return Effect.zipRight(Effect.zipRight(reclaimShared, purge), dispatchAll())
        })
      )))
      startTimer(Effect.forever(Effect.zipRight(Effect.sleep(Duration.millis(shared.renewMillis)), renewAll)))
      startTimer(Stream.runForEach(queue.notifications, (name) => {
        const type = types.get(name)
        return type === undefined ? Effect.void : dispatchShared(type, undefined)
      }))
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
          windowFailures: 0,
          parked: []
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
        unpark(worker)
        if (worker.inFlight === 0) workers.delete(name)
        updateLoad()
        return Effect.void
      })

    // Without `shared` the supervisor keeps its tasks' lives in memory: what
    // an earlier run left in the queue is not its own and is dropped now,
    // before any worker could take it. Their grants are released here, by
    // id: no process will run these tasks, so nothing else would settle
    // them, and a policy need not expire its grants at all (the budget's
    // admission reservations never do: they would stay reserved for good).
    if (shared === undefined) {
      const dropped = yield* queue.clear
      yield* Effect.forEach(dropped, settleStored, { discard: true })
    }

    for (const spec of config.workers) {
      yield* Effect.mapError(addWorker(spec), (error) => new InvalidOptions({ message: error.message }))
    }

    // ---- shutdown ----

    const waitIdle: Effect.Effect<void> = Effect.suspend(() =>
      activeCount === 0 ? Effect.void : Effect.zipRight(Deferred.await(idle.next()), waitIdle)
    )

    const cancelAll = Effect.suspend(() =>
      Effect.forEach(activeTasks(), (state) => cancelTask(state, "shutdown"), {
        concurrency: "unbounded",
        discard: true
      })
    )

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        closed = true
        for (const type of types.values()) type.space.fire()
        settled.fire()
        if (config.shutdown.mode !== "cancel") {
          // Queued tasks of a type no worker takes cannot drain: cancelled now.
          yield* Effect.forEach(
            activeTasks().filter((state) => state.status === "queued" && state.type.workers.length === 0),
            (state) => cancelTask(state, "shutdown"),
            { discard: true }
          )
          yield* Effect.timeout(Effect.interruptible(waitIdle), Duration.millis(config.shutdown.timeoutMillis)).pipe(
            Effect.ignore
          )
        }
        if (config.shutdown.mode === "handBack") {
          // What is still running here goes back to the queue: handlers are
          // interrupted, tasks not started yet are not run.
          for (const state of [...leasedRunning]) {
            if (state.exit !== undefined || state.gone) continue
            state.handBack = true
            if (state.inHandler && state.slot !== undefined) interruptSlot(state.slot)
          }
          yield* waitIdle
        }
        yield* cancelAll
        yield* waitIdle
        for (const worker of workers.values()) unpark(worker)
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
      status: (id) =>
        shared === undefined ? Effect.map(lookup(id), (state) => state.status) : Effect.map(
          storedOrLocal(id),
          (found) => "state" in found ? found.state.status : found.stored.status
        ),
      result: (id) =>
        shared !== undefined
          ? Effect.flatMap(storedOrLocal(id), (found) =>
            "state" in found
              ? Effect.flatMap(awaitExit(found.state), (value) =>
                // A task that left this process (a retry) ended elsewhere: its
                // exit is the stored outcome, decoded already.
                found.state.gone ? Effect.succeed(value) : Effect.orDie(
                  Schema.decodeUnknown(found.state.type.spec.result as Schema.Schema<unknown, unknown>)(
                    found.state.encodedResult
                  )
                ))
              : Effect.flatten(awaitStored(id)))
          : Effect.flatMap(
            lookup(id),
            (state) =>
              Effect.flatMap(awaitExit(state), () =>
                Effect.orDie(
                  Schema.decodeUnknown(state.type.spec.result as Schema.Schema<unknown, unknown>)(
                    state.encodedResult
                  )
                ))
          ),
      handle: (id) =>
        shared === undefined ? Effect.map(lookup(id), handleOf) : Effect.map(
          storedOrLocal(id),
          (found) => "state" in found ? handleOf(found.state) : new StoredHandle(found.stored.record.id)
        ),
      cancel: (id) =>
        shared === undefined
          ? Effect.flatMap(lookup(id), (state) => cancelTask(state, "cancelled"))
          : cancelShared(id),
      addWorker,
      removeWorker,
      snapshot,
      events: Stream.fromPubSub(events)
    }
    return service
  })
