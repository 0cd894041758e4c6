// A day of the agent team, simulated: the service's own stack (Stack.ts:
// supervisor, budget, router over its simulated provider and the default
// catalog, memory, checkpointed research workflows, shared state, dead
// letters) on the packages' memory layers, under Effect's TestClock, with a
// seeded `Random` — so the same options give the same run.
//
// Each agent submits one research run per simulated hour (at a seeded
// minute), through the team's `submit` as the HTTP API does; the runs are
// the demo's `research` workflow (Research.ts), unchanged. The only layer
// added is around the routed `LanguageModel`: it builds each prompt up to its
// workload kind's size with source material, and draws the crashes — a call
// during which the process dies: the process (engine, router, models, team)
// is then built again over the same stores, and the runs it had in flight
// are handed back to the queue and resumed by the engine from their
// checkpoints.
import { TokenBudget } from "@agentos/budget"
import type { Budget } from "@agentos/budget"
import { WorkflowEngine } from "@agentos/checkpoint"
import { IdGenerator } from "@agentos/core"
import { DeadLetterQueue } from "@agentos/dlq"
import { AgentMemory } from "@agentos/memory"
import { DecisionLog, RoutedLanguageModel, Router, SimulatedProvider, SpendLedger } from "@agentos/router"
import type { Spend } from "@agentos/router"
import * as LanguageModel from "@effect/ai/LanguageModel"
import { NodeFileSystem } from "@effect/platform-node"
import * as FileSystem from "@effect/platform/FileSystem"
import {
  Context,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Logger,
  LogLevel,
  Random,
  Ref,
  Scheduler,
  Scope,
  TestClock,
  TestContext
} from "effect"
import type { AppConfig } from "../Config.js"
import * as AppConfigModule from "../Config.js"
import { TEAM_SCOPE } from "../Models.js"
import { seeded } from "../Seeded.js"
import * as Stack from "../Stack.js"
import { ESTIMATED_TOKENS, Team } from "../Team.js"
import type { Options, WorkloadKind } from "./Options.js"

/** How far the simulation got, for the progress bar. */
export interface Progress {
  readonly simulatedMinutes: number
  readonly totalMinutes: number
  readonly submitted: number
  readonly ended: number
}

/** One sample of the day, every `SAMPLE_MINUTES`. */
export interface Sample {
  /** Minutes since the start of the day. */
  readonly minute: number
  /** Spent by the team in the interval (micro-dollars). */
  readonly spentMicros: number
  /** Runs submitted, refused and ended in the interval. */
  readonly submitted: number
  readonly refused: number
  readonly ended: number
  /** Model calls made in the interval. */
  readonly calls: number
}

export interface AgentFigures {
  readonly agent: string
  readonly spentMicros: number
  readonly spendLimitMicros: number
  readonly tokensUsed: number
  readonly tokensAllocated: number
  readonly runs: number
  readonly refused: number
}

export interface Report {
  readonly options: {
    readonly agents: number
    readonly hours: number
    readonly seed: number
    readonly mix: ReadonlyArray<WorkloadKind>
    readonly failures: Options["failures"]
    readonly agentMemory: number
    readonly teamMemory: number
    readonly tokenBudget: number
    readonly spendLimitMicros: number
  }
  readonly runs: {
    readonly submitted: number
    readonly refused: Readonly<Record<string, number>>
    readonly completed: number
    readonly failed: number
    readonly unfinished: number
  }
  readonly workflows: {
    readonly total: number
    readonly byStatus: Readonly<Record<string, number>>
    /** Workflows a later runner took over from their checkpoint (lease epoch above 1), by the engine's checkpoints. */
    readonly resumed: number
    readonly stepAttempts: number
  }
  readonly crashes: number
  readonly calls: {
    readonly total: number
    readonly byModel: Readonly<Record<string, number>>
  }
  readonly spend: {
    readonly routedMicros: number
    readonly referenceMicros: number
    readonly savingMicros: number
    readonly byModel: ReadonlyArray<{ readonly model: string; readonly calls: number; readonly spentMicros: number }>
  }
  readonly tokens: {
    readonly total: number
    readonly used: number
    readonly fairness: number
  }
  readonly deadLetters: {
    readonly total: number
    readonly byCause: Readonly<Record<string, number>>
  }
  readonly memory: {
    /** Live memories at the end: all, the team's, the agents'. */
    readonly total: number
    readonly team: number
    readonly agents: number
  }
  readonly agents: ReadonlyArray<AgentFigures>
  readonly samples: ReadonlyArray<Sample>
}

export const SAMPLE_MINUTES = 15

const TOPICS = [
  "agent runtimes in production",
  "backpressure in LLM pipelines",
  "token budgets for agent teams",
  "memory decay for long-running agents",
  "checkpointing agent workflows",
  "routing requests to cheaper models",
  "dead letter queues for AI tasks",
  "optimistic locking for shared agent state",
  "evaluating retrieval for research agents",
  "rate limits of hosted models"
]

// A vocabulary of 4,096 made-up words for the seeded memories: varied like
// real notes (a handful of words in common), not every memory matching
// every query.
const SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qu", "de", "fi", "go", "hu", "ja"]
const VOCABULARY = Array.from(
  { length: 4_096 },
  (_, i) => `${SYLLABLES[i & 15]}${SYLLABLES[(i >> 4) & 15]}${SYLLABLES[(i >> 8) & 15]}`
)

/** `n` words of that vocabulary, drawn with `draw` (the seeded memories', the prompts' source material). */
export const words = (draw: () => number, n: number): string => {
  const out: Array<string> = []
  for (let i = 0; i < n; i++) out.push(VOCABULARY[Math.floor(draw() * VOCABULARY.length)]!)
  return out.join(" ")
}

/** The agents' ids: `agent-0001`, … (the first leads: twice the others' token share). */
export const agentIds = (n: number): ReadonlyArray<string> =>
  Array.from({ length: n }, (_, i) => `agent-${String(i + 1).padStart(Math.max(4, String(n).length), "0")}`)

/** The service's configuration for the simulated team (every other setting at its default). */
export const appConfig = (options: Options): AppConfig => ({
  ...AppConfigModule.defaults(),
  agents: agentIds(options.agents),
  team: false,
  maxQueued: options.agents * 2,
  drainTimeout: Duration.zero,
  taskPollInterval: Duration.minutes(1),
  taskRetention: Duration.hours(2),
  tokenBudget: options.tokenBudget,
  spendLimitMicros: options.spendLimitMicros,
  simLatency: Duration.zero,
  simFailureRate: options.failures.serverError
})

/**
 * Jain's fairness index, as @agentos/budget's benchmark defines the budget's
 * fairness: over the agents, of the tokens each was granted ÷ its weighted
 * max-min fair share of the total given every agent's demand. 1 is
 * perfectly fair.
 */
export const jainFairness = (
  agents: ReadonlyArray<{ readonly weight: number; readonly demand: number; readonly granted: number }>,
  total: number
): number => {
  const active = agents.filter((a) => a.demand > 0)
  if (active.length === 0) return 1
  // Weighted max-min fair shares (water filling): the level λ with Σ min(demand, λ·weight) = total.
  const fill = (level: number) => active.reduce((s, a) => s + Math.min(a.demand, level * a.weight), 0)
  let lo = 0
  let hi = Math.max(...active.map((a) => a.demand / a.weight))
  if (fill(hi) > total) {
    for (let i = 0; i < 100; i++) {
      const mid = (lo + hi) / 2
      if (fill(mid) <= total) lo = mid
      else hi = mid
    }
  } else {
    lo = hi
  }
  const xs = active.map((a) => a.granted / Math.min(a.demand, lo * a.weight))
  const sum = xs.reduce((s, x) => s + x, 0)
  const squares = xs.reduce((s, x) => s + x * x, 0)
  return squares === 0 ? 1 : (sum * sum) / (xs.length * squares)
}

interface Arrival {
  readonly agent: string
  readonly topic: string
  readonly kind: WorkloadKind
}

/** The process's models: the routed LanguageModel over the simulated provider, with prompts built and crashes drawn. */
const models = (
  options: Options,
  kinds: ReadonlyArray<WorkloadKind>,
  crash: { readonly draw: () => boolean; readonly signal: Effect.Effect<void> },
  calls: Ref.Ref<number>,
  io: { n: number }
) => {
  const provider = SimulatedProvider.layer({
    seed: options.seed,
    timing: "instant",
    defaults: {
      outputTokens: { min: 100, max: 600 },
      failures: {
        serverError: options.failures.serverError,
        rateLimited: options.failures.rateLimited,
        timeout: options.failures.timeout
      }
    },
    ...(options.billedLog === undefined ? {} : { billedLog: options.billedLog })
  })
  const routed = RoutedLanguageModel.layer({ scopes: [TEAM_SCOPE], maxAttempts: 1 }).pipe(
    Layer.provide(options.billedLog === undefined ? provider : Layer.provide(provider, countedFileSystem(io)))
  )
  // Source material the prompts are built up to their size with (the simulated provider and the
  // router count 4 bytes a token).
  const material = words(seeded(options.seed ^ 0x5eed), 8_000) + " "
  const build = (prompt: string): string => {
    const firstLine = prompt.slice(0, prompt.indexOf("\n") === -1 ? prompt.length : prompt.indexOf("\n"))
    const kind = kinds.find((k) => firstLine.includes(`[${k.name}]`)) ?? kinds[0]!
    const missing = kind.promptTokens * 4 - Buffer.byteLength(prompt)
    if (missing <= 0) return prompt
    let padding = ""
    const start = Math.abs(hashOf(firstLine)) % (material.length - 1)
    while (padding.length < missing) padding += material.slice(start) + material
    return `${prompt}\n\nSources:\n${padding.slice(0, Math.max(0, missing - 11))}`
  }
  return Layer.effectContext(Effect.gen(function*() {
    const model = yield* LanguageModel.LanguageModel
    const log = yield* DecisionLog.DecisionLog
    const wrapped: LanguageModel.Service = {
      ...model,
      generateText: ((request: { readonly prompt: unknown }) =>
        Effect.suspend(() => {
          if (crash.draw()) return Effect.zipRight(crash.signal, Effect.never)
          return Effect.zipRight(
            Ref.update(calls, (n) => n + 1),
            model.generateText({
              ...request,
              prompt: typeof request.prompt === "string" ? build(request.prompt) : request.prompt
            } as never)
          )
        })) as LanguageModel.Service["generateText"]
    }
    return Context.make(LanguageModel.LanguageModel, wrapped).pipe(Context.add(DecisionLog.DecisionLog, log))
  })).pipe(Layer.provide(routed))
}

// Moving the clock: Effect's TestClock wakes the sleeps due one at a time,
// and before each it lets every other fiber run until they all wait: it
// yields to the event loop three times with a `setTimeout` of 0 (its
// `yieldTimer`), a millisecond or more each — and a day of a thousand agents
// has some 40,000 sleeps (polls, lease renewals, heartbeats, retries), two
// minutes of a machine doing nothing. The simulation runs its fibers on a
// scheduler that never defers to a timer (every fiber goes on in microtasks),
// so all of them have run or wait once the microtasks are drained, and the
// clock yields with `setImmediate`, which runs exactly then. What is not
// fibers — the billed log's writes, loading the token counter — is waited
// for explicitly (`advance`, the warm-up).
const simulationScheduler = new Scheduler.MixedScheduler(Number.MAX_SAFE_INTEGER)

/** The node file system, counting in `io` the writes and syncs of the files it opened that are under way. */
const countedFileSystem = (io: { n: number }) =>
  Layer.effect(
    FileSystem.FileSystem,
    Effect.map(FileSystem.FileSystem, (fs): FileSystem.FileSystem => {
      const counted = <A, E>(effect: Effect.Effect<A, E>) =>
        Effect.acquireUseRelease(Effect.sync(() => io.n++), () => effect, () => Effect.sync(() => io.n--))
      return {
        ...fs,
        open: (path, options) =>
          Effect.map(fs.open(path, options), (file): FileSystem.File =>
            Object.create(file, {
              writeAll: { value: (buffer: Uint8Array) => counted(file.writeAll(buffer)) },
              sync: { value: counted(file.sync) }
            }) as FileSystem.File)
      }
    })
  ).pipe(Layer.provide(NodeFileSystem.layer))

const immediate = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/**
 * Makes the TestClock yield with `setImmediate`. Its `yieldTimer` is not in
 * Effect's declarations: where a release of Effect renames it, the clock
 * keeps its own (the same report, twice as slow) and this answers false —
 * `test/Simulate.test.ts` asserts it answers true on the installed Effect.
 */
export const quickYields = Effect.map(TestClock.testClock(), (clock) => {
  const internals = clock as unknown as { yieldTimer?: Effect.Effect<void> }
  if (!Effect.isEffect(internals.yieldTimer)) return false
  internals.yieldTimer = immediate
  return true
})

/**
 * Moves the clock by `millis`. With the billed log (real I/O), from one due
 * sleep to the next, waiting before each until no write of it is under way:
 * a call whose line was still being written when the clock passed its
 * timeout was ended after the provider billed it, and charged its
 * reservation rather than what was billed (the spend then differed from the
 * billed log by a few micro-dollars on a loaded machine).
 */
const advance = (io: { readonly n: number } | undefined) => (millis: number) =>
  Effect.gen(function*() {
    if (io === undefined) return yield* TestClock.adjust(Duration.millis(millis))
    const settle = Effect.gen(function*() {
      while (io.n > 0) yield* immediate
    })
    const end = (yield* TestClock.currentTimeMillis) + millis
    for (;;) {
      yield* settle
      const now = yield* TestClock.currentTimeMillis
      let next = end
      for (const at of yield* TestClock.sleeps()) if (at > now && at < next) next = at
      yield* TestClock.setTime(next)
      if (next === end) break
    }
    yield* settle
  })

const hashOf = (text: string) => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return h
}

/** Seeds the memory: each agent up to its share (less the day's own additions), the team up to its own. */
const seedMemory = (options: Options, agents: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const memory = yield* AgentMemory.AgentMemory
    const draw = seeded(options.seed ^ 0x3e3)
    const perAgent = Math.max(0, options.agentMemory - options.hours)
    const types = ["fact", "result", "context", "conversation"] as const
    // One addMany per agent (one lock, one write; a memory per add took most of the seeding).
    for (const agent of agents) {
      yield* memory.addMany(Array.from({ length: perAgent }, (_, i) => ({
        text: words(draw, 10),
        type: types[i % types.length]!,
        agent,
        importance: Math.round(draw() * 100) / 100
      })))
    }
    const team = Math.max(0, options.teamMemory - TOPICS.length * options.mix.length)
    yield* memory.addMany(Array.from({ length: team }, () => ({
      text: words(draw, 12),
      type: "fact",
      importance: Math.round(draw() * 100) / 100
    })))
  })

/** Every arrival of the day, by minute: each agent once an hour, at a seeded minute, of a seeded kind. */
const arrivals = (options: Options, agents: ReadonlyArray<string>): Array<Array<Arrival>> => {
  const draw = seeded(options.seed)
  const byMinute: Array<Array<Arrival>> = Array.from({ length: options.hours * 60 }, () => [])
  const totalWeight = options.mix.reduce((s, k) => s + k.weight, 0)
  for (let hour = 0; hour < options.hours; hour++) {
    for (const agent of agents) {
      const minute = hour * 60 + Math.floor(draw() * 60)
      let pick = draw() * totalWeight
      const kind = options.mix.find((k) => (pick -= k.weight) < 0) ?? options.mix[options.mix.length - 1]!
      // The kind is marked in the topic (the prompt builder reads it) only when the mix has several.
      const base = TOPICS[Math.floor(draw() * TOPICS.length)]!
      const topic = options.mix.length === 1 ? base : `${base} [${kind.name}]`
      byMinute[minute]!.push({ agent, topic, kind })
    }
  }
  return byMinute
}

const DAY_MILLIS = 24 * 60 * 60 * 1000

/** Runs the simulation (under `TestClock`, with `Random` seeded) and returns its report. */
export const run = (options: Options, onProgress?: (progress: Progress) => void) =>
  Effect.gen(function*() {
    const config = appConfig(options)
    const agents = config.agents
    yield* quickYields
    const storesScope = yield* Scope.make()
    const stores = yield* Layer.buildWithScope(
      Layer.merge(
        Stack.storesMemory(config, {
          maxEntries: options.agents * options.agentMemory + options.teamMemory
        }),
        // Sequential ids: a workflow's id is in its prompts (through memory), and the prompts drive the provider.
        IdGenerator.layerSequential("sim")
      ),
      storesScope
    )
    yield* seedMemory(options, agents).pipe(Effect.provide(stores))
    // The first query builds the full-text index and loads the token counter (real I/O): before the day starts.
    yield* Context.get(stores, AgentMemory.AgentMemory).buildContext({ maxTokens: 1, query: TOPICS[0]! })

    const crashDraw = seeded(options.seed ^ 0xc7a5)
    const crashRequested = yield* Ref.make(false)
    const calls = yield* Ref.make(0)
    const io = { n: 0 }
    const processModels = models(
      options,
      options.mix,
      {
        draw: () => options.failures.crash > 0 && crashDraw() < options.failures.crash,
        signal: Ref.set(crashRequested, true)
      },
      calls,
      io
    )
    const moveClock = advance(options.billedLog === undefined ? undefined : io)

    // One process: built over the stores, closed at a crash (no grace: the runs in flight are
    // handed back to the queue) and built again.
    const start = Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        Stack.instance(config, processModels).pipe(Layer.provide(Layer.succeedContext(stores))),
        scope
      )
      return { scope, context, team: Context.get(context, Team) }
    })
    let current = yield* start

    const byMinute = arrivals(options, agents)
    const totalMinutes = options.hours * 60
    // The runs not ended yet: their task ids and waiters (on the current process).
    const outstanding = new Map<
      string,
      { readonly agent: string; fiber: Fiber.RuntimeFiber<Exit.Exit<unknown, unknown>> }
    >()
    const ended = { completed: 0, failed: 0 }
    const perAgent = new Map(agents.map((a) => [a, { runs: 0, refused: 0 }]))
    const refused: Record<string, number> = {}
    let submitted = 0
    let endedInSample = 0
    let crashes = 0

    const wait = (id: string) =>
      Effect.flatMap(current.team.supervisor.handle(id), (handle) => handle.await).pipe(Effect.exit, Effect.fork)

    // Waiters that ended: counted and forgotten.
    const collect = Effect.sync(() => {
      for (const [id, entry] of outstanding) {
        const exit = entry.fiber.unsafePoll()
        if (exit === null) continue
        if (Exit.isSuccess(exit) && Exit.isSuccess(exit.value)) ended.completed++
        else ended.failed++
        outstanding.delete(id)
        endedInSample++
      }
    })

    // A crash: the process dies; a new one is built over the same stores and takes the runs over.
    const restartIfCrashed = Effect.gen(function*() {
      if (!(yield* Ref.get(crashRequested))) return
      crashes++
      yield* Effect.forEach(outstanding.values(), (entry) => Fiber.interrupt(entry.fiber), { discard: true })
      yield* Scope.close(current.scope, Exit.void)
      yield* Ref.set(crashRequested, false)
      current = yield* start
      for (const [id, entry] of outstanding) entry.fiber = yield* wait(id)
    })

    const samples: Array<Sample> = []
    let lastSpent = 0
    let lastCalls = 0
    let sample = { submitted: 0, refused: 0 }
    // The team's spend as the router's report has it (reservations past their time charged first),
    // read from the ledger for the team's scope alone: the report reads every agent's scope too.
    const ledger = Context.get(stores, SpendLedger.SpendLedger)
    const spentNow = Effect.zipRight(ledger.expire, Effect.map(ledger.status(TEAM_SCOPE), (s) => s.spent))
    const takeSample = (minute: number) =>
      Effect.gen(function*() {
        const spent = yield* spentNow
        const callCount = yield* Ref.get(calls)
        samples.push({
          minute,
          spentMicros: spent - lastSpent,
          submitted: sample.submitted,
          refused: sample.refused,
          ended: endedInSample,
          calls: callCount - lastCalls
        })
        lastSpent = spent
        lastCalls = callCount
        sample = { submitted: 0, refused: 0 }
        endedInSample = 0
      })

    for (let minute = 0; minute < totalMinutes; minute++) {
      for (const arrival of byMinute[minute]!) {
        submitted++
        sample.submitted++
        perAgent.get(arrival.agent)!.runs++
        const accepted = yield* Effect.either(
          current.team.submit({ type: "research", payload: { topic: arrival.topic, agent: arrival.agent } })
        )
        if (accepted._tag === "Left") {
          const error = accepted.left
          const reason = error._tag === "TooManyRequests" ? `${error._tag}:${error.reason}` : error._tag
          refused[reason] = (refused[reason] ?? 0) + 1
          sample.refused++
          perAgent.get(arrival.agent)!.refused++
          continue
        }
        outstanding.set(accepted.right.id, { agent: arrival.agent, fiber: yield* wait(accepted.right.id) })
      }
      // The last minute of a full day stops a second short, so every figure is read within the day.
      const last = minute === totalMinutes - 1 && totalMinutes * 60_000 >= DAY_MILLIS
      yield* moveClock(last ? 59_000 : 60_000)
      yield* restartIfCrashed
      yield* collect
      if ((minute + 1) % SAMPLE_MINUTES === 0 || minute === totalMinutes - 1) yield* takeSample(minute + 1)
      onProgress?.({ simulatedMinutes: minute + 1, totalMinutes, submitted, ended: ended.completed + ended.failed })
    }
    // Runs still going at the end get what is left of the day (a second a step) to finish.
    const dayEnd = Math.min(DAY_MILLIS - 1_000, options.hours * 3_600_000 + 30 * 60_000)
    while (outstanding.size > 0 && (yield* TestClock.currentTimeMillis) < dayEnd) {
      yield* moveClock(1_000)
      yield* restartIfCrashed
      yield* collect
    }
    if (endedInSample > 0) yield* takeSample(totalMinutes)

    const report = yield* gather(options, current.context, stores, {
      runs: {
        submitted,
        refused: sortKeys(refused),
        completed: ended.completed,
        failed: ended.failed,
        unfinished: outstanding.size
      },
      crashes,
      calls: yield* Ref.get(calls),
      perAgent,
      samples
    })
    yield* Effect.forEach(outstanding.values(), (entry) => Fiber.interrupt(entry.fiber), { discard: true })
    yield* Scope.close(current.scope, Exit.void)
    yield* Scope.close(storesScope, Exit.void)
    return report
  }).pipe(
    Effect.withRandom(Random.make(options.seed)),
    Effect.withScheduler(simulationScheduler),
    Logger.withMinimumLogLevel(LogLevel.None),
    Effect.provide(TestContext.TestContext)
  )

const sortKeys = (record: Readonly<Record<string, number>>): Record<string, number> =>
  Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))

/** The report's figures, read from the stores and the router. */
const gather = (
  options: Options,
  process: Context.Context<Router.Router | WorkflowEngine.WorkflowEngine>,
  stores: Context.Context<TokenBudget.TokenBudget | DeadLetterQueue.DeadLetterQueue | AgentMemory.AgentMemory>,
  figures: {
    readonly runs: Report["runs"]
    readonly crashes: number
    readonly calls: number
    readonly perAgent: ReadonlyMap<string, { readonly runs: number; readonly refused: number }>
    readonly samples: ReadonlyArray<Sample>
  }
) =>
  Effect.gen(function*() {
    const router = Context.get(process, Router.Router)
    const engine = Context.get(process, WorkflowEngine.WorkflowEngine)
    const budget = Context.get(stores, TokenBudget.TokenBudget)
    const dlq = Context.get(stores, DeadLetterQueue.DeadLetterQueue)
    const memory = Context.get(stores, AgentMemory.AgentMemory)

    const spend = yield* router.budgetReport()
    const scopes = new Map<string, Spend.ScopeReport>(spend.scopes.map((s) => [s.scope, s]))
    const team = scopes.get(TEAM_SCOPE)!
    const byModel = [...team.byModel]
      .map((m) => ({ model: m.model, calls: m.calls, spentMicros: m.spent }))
      .sort((a, b) => b.spentMicros - a.spentMicros || (a.model < b.model ? -1 : 1))
    const referenceMicros = team.byModel.reduce((s, m) => s + m.reference, 0)

    const dashboard: Budget.Dashboard = yield* budget.dashboard()
    const statuses = new Map(dashboard.agents.map((a) => [a.id, a]))

    const agents: Array<AgentFigures> = []
    for (const [agent, counted] of figures.perAgent) {
      const scope = scopes.get(`agent:${agent}`)
      const status = statuses.get(agent)
      agents.push({
        agent,
        spentMicros: scope?.spent ?? 0,
        spendLimitMicros: scope?.limit ?? 0,
        tokensUsed: status?.used ?? 0,
        tokensAllocated: status?.allocated ?? 0,
        runs: counted.runs,
        refused: counted.refused
      })
    }
    const fairness = jainFairness(
      agents.map((a) => ({
        weight: statuses.get(a.agent)?.weight ?? 1,
        granted: a.tokensUsed,
        // What the agent asked for: what it used, and the admission estimate of each run it was refused.
        demand: a.tokensUsed + a.refused * ESTIMATED_TOKENS
      })),
      dashboard.total
    )

    // The engine's checkpoints: every workflow, its status, and whether a later runner resumed it.
    const byStatus: Record<string, number> = {}
    let total = 0
    let resumed = 0
    let stepAttempts = 0
    let cursor: string | undefined
    do {
      const page = yield* engine.list({ limit: 1_000, ...(cursor === undefined ? {} : { cursor }) })
      for (const checkpoint of page.items) {
        total++
        byStatus[checkpoint.status] = (byStatus[checkpoint.status] ?? 0) + 1
        if (checkpoint.epoch > 1) resumed++
        for (const n of Object.values(checkpoint.attempts)) stepAttempts += n
      }
      cursor = page.cursor
    } while (cursor !== undefined)

    // Dead letters by cause: the failed step's error, as the engine recorded it.
    const byCause: Record<string, number> = {}
    let letters = 0
    let letterCursor: string | undefined
    do {
      const page = yield* dlq.list({ limit: 1_000, ...(letterCursor === undefined ? {} : { cursor: letterCursor }) })
      for (const letter of page.letters) {
        letters++
        const cause = causeOf(letter.error)
        byCause[cause] = (byCause[cause] ?? 0) + 1
      }
      letterCursor = page.nextCursor
    } while (letterCursor !== undefined)

    const stats = yield* memory.stats()
    const live = { total: stats.total, team: stats.team, agents: stats.agents }

    const report: Report = {
      options: {
        agents: options.agents,
        hours: options.hours,
        seed: options.seed,
        mix: options.mix,
        failures: options.failures,
        agentMemory: options.agentMemory,
        teamMemory: options.teamMemory,
        tokenBudget: options.tokenBudget,
        spendLimitMicros: options.spendLimitMicros
      },
      runs: figures.runs,
      workflows: { total, byStatus: sortKeys(byStatus), resumed, stepAttempts },
      crashes: figures.crashes,
      calls: {
        total: figures.calls,
        byModel: sortKeys(Object.fromEntries(byModel.map((m) => [m.model, m.calls])))
      },
      spend: {
        routedMicros: team.spent,
        referenceMicros,
        savingMicros: referenceMicros - team.spent,
        byModel
      },
      tokens: { total: dashboard.total, used: dashboard.used, fairness },
      deadLetters: { total: letters, byCause: sortKeys(byCause) },
      memory: live,
      agents,
      samples: figures.samples
    }
    return report
  })

/** A letter's cause: the error of the step that failed for good (`StepFailed` carries it in its message). */
const causeOf = (error: { readonly tag: string; readonly message: string }): string => {
  const inner = /\b(ModelUnavailable|ModelRefused|TimeoutException|StoreError|[A-Z]\w+(?:Error|Exceeded|Exhausted))\b/
    .exec(error.message)
  return inner === null || inner[1] === error.tag ? error.tag : `${error.tag}: ${inner[1]}`
}
