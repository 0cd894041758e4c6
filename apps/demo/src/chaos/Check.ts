// The end-of-run checks of the chaos run, over the service's database (after
// the service has stopped) and the witnesses it wrote (Witness.ts):
//
// - tasks: every accepted task is stored once, in one terminal state;
// - workflows: completed with each step committed once, or failed with its
//   cause stored (and its dead letter), or cancelled — none left running;
// - steps: each committed step result is one a witnessed run produced, under
//   the attempt the checkpoint records (a step in flight at a kill may have
//   run twice; its result is committed once);
// - spend: for every call the simulated provider billed, the spend the
//   router's ledger recorded equals the billed tokens' cost when the call was
//   settled with its usage, and lies between that cost and the reservation
//   when it was interrupted; no usage is recorded for a call never billed;
// - budget: the token budget's invariants on its dashboard;
// - readability: the checkpoint store, the dead letters, the shared state
//   and the budget are read back whole through the packages' own layers.
import { TokenBudget } from "@agentos/budget"
import { CheckpointStore } from "@agentos/checkpoint"
import type { Checkpoint } from "@agentos/checkpoint"
import { Pricing, TokenUsage } from "@agentos/core"
import { DeadLetterQueue } from "@agentos/dlq"
import type { Letter } from "@agentos/dlq"
import { DefaultCatalog } from "@agentos/router"
import { SharedState } from "@agentos/state"
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Option } from "effect"
import { TEAM } from "../Models.js"
import * as Witness from "./Witness.js"

/** The research workflow's steps, and the state field each one's output sets. */
export const STEPS = [
  ["gather-requirements", "requirements"],
  ["search-sources", "sources"],
  ["synthesize", "synthesis"],
  ["format", "report"]
] as const

/**
 * The violation the chaos run found first: a task failed as poison (its
 * deliveries lost to runners that died) left its workflow "running" for good,
 * with no cause stored and no dead letter. Fixed in the team's task handler
 * (Team.ts); still checked, strictly, like every other violation.
 */
export const POISON_LEFT_RUNNING = "a task failed as poison left its workflow running"

const TERMINAL = new Set(["completed", "failed", "cancelled", "dead-lettered"])

export interface CheckInput {
  /** The ids of tasks the run saw accepted (202), by id. */
  readonly acceptedIds: ReadonlyArray<string>
  /** Every 202 the run's clients counted (the load generator counts, it does not keep ids). */
  readonly acceptedCount: number
  readonly witnessDir: string
  readonly tokenBudget: number
}

export interface Findings {
  readonly counts: Record<string, number>
  readonly violations: ReadonlyArray<string>
}

const toNumber = (value: unknown) => Number(value)

/** Every page of a cursor-paged listing. */
const allPages = <P, A, E>(
  page: (cursor: string | undefined) => Effect.Effect<P, E>,
  items: (p: P) => ReadonlyArray<A>,
  next: (p: P) => string | undefined
) =>
  Effect.gen(function*() {
    const all: Array<A> = []
    let cursor: string | undefined = undefined
    do {
      const p: P = yield* page(cursor)
      for (const item of items(p)) all.push(item)
      cursor = next(p)
    } while (cursor !== undefined)
    return all
  })

/** The checks; needs the service's `SqlClient` (the service stopped). */
export const check = (input: CheckInput) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const violations: Array<string> = []
    const counts: Record<string, number> = {}
    const add = (key: string, n = 1) => (counts[key] = (counts[key] ?? 0) + n)
    const violation = (text: string) => {
      if (violations.length < 200) violations.push(text)
      add("violations")
    }

    // Tasks.
    const tasks = yield* sql<
      { id: string; state: string; type: string; lost: unknown; poisoned: unknown; outcome: unknown }
    >`
      SELECT id, state, type, lost, poisoned, outcome FROM agentos_supervisor_tasks`
    const taskState = new Map<string, string>()
    // A failed task's error, quoted in its violations (what to trace): its tag and the first line of its message.
    const outcome = (id: string) => {
      const o = tasks.find((t) => t.id === id)?.outcome
      if (o === undefined || o === null) return ""
      const text = typeof o === "string" ? o : JSON.stringify(o)
      try {
        const error = (JSON.parse(text) as { error?: { error?: { tag?: string; message?: string; stack?: string } } })
          .error?.error
        const line = (error?.message ?? error?.stack ?? "").split("\n")[0]!
        if (error?.tag !== undefined) return `: ${error.tag}: ${line.slice(0, 200)}`
      } catch {
        // not JSON: quoted as it is
      }
      return `: ${text.slice(0, 200)}`
    }
    const poisoned = new Set<string>()
    for (const t of tasks) {
      taskState.set(t.id, t.state)
      if (toNumber(t.poisoned) > 0) poisoned.add(t.id)
      add(`tasks ${t.state}`)
      if (toNumber(t.lost) > 0) add("tasks lost by a killed runner at least once")
      if (toNumber(t.poisoned) > 0) add("tasks poisoned")
      if (!TERMINAL.has(t.state)) violation(`task ${t.id} is ${t.state}, not in a terminal state`)
    }
    counts["tasks stored"] = tasks.length
    counts["tasks accepted (202, all clients)"] = input.acceptedCount
    counts["tasks accepted with a known id"] = input.acceptedIds.length
    for (const id of input.acceptedIds) {
      if (!taskState.has(id)) violation(`accepted task ${id} is not stored`)
    }
    if (tasks.length < input.acceptedCount) {
      violation(`${input.acceptedCount} tasks were accepted but only ${tasks.length} are stored`)
    }

    // Readable through the packages' own layers.
    const read = <A, E>(what: string, effect: Effect.Effect<A, E>) =>
      Effect.catchAllCause(Effect.map(effect, Option.some), (cause) =>
        Effect.sync(() => {
          violation(`${what} not readable: ${String(cause).slice(0, 300)}`)
          return Option.none<A>()
        }))
    const store = yield* CheckpointStore.CheckpointStore
    const dlq = yield* DeadLetterQueue.DeadLetterQueue
    const state = yield* SharedState.SharedState
    const budget = yield* TokenBudget.TokenBudget
    const checkpoints = yield* read(
      "checkpoints",
      allPages(
        (cursor) => store.list({ limit: 500, ...(cursor === undefined ? {} : { cursor }) }),
        (p: Checkpoint.Page) => p.items,
        (p) => p.cursor
      )
    )
    const letters = yield* read(
      "dead letters",
      allPages(
        (cursor) => dlq.list({ limit: 500, ...(cursor === undefined ? {} : { cursor }) }),
        (p: Letter.Page) => p.letters,
        (p) => p.nextCursor
      )
    )
    const entries = yield* read(
      "shared state",
      allPages(
        (cursor) => state.list("", { limit: 500, ...(cursor === undefined ? {} : { cursor }) }),
        (p: SharedState.Page) => p.entries,
        (p) => Option.getOrUndefined(p.cursor)
      )
    )
    const dashboard = yield* read("budget", budget.dashboard())
    counts["dead letters"] = Option.match(letters, { onNone: () => 0, onSome: (l) => l.length })
    counts["shared state entries"] = Option.match(entries, { onNone: () => 0, onSome: (e) => e.length })

    // Steps: the witnesses by idempotency key.
    const steps = Witness.read<Witness.StepLine>(input.witnessDir, "steps")
    if (steps.torn > 0) violation(`${steps.torn} torn lines in the step witness`)
    const starts = new Map<string, number>()
    const done = new Map<string, Set<string>>()
    for (const line of steps.lines) {
      if (line.kind === "step-start") starts.set(line.key, (starts.get(line.key) ?? 0) + 1)
      else {
        const outputs = done.get(line.key) ?? new Set<string>()
        outputs.add(line.output ?? "")
        done.set(line.key, outputs)
      }
    }
    counts["step runs witnessed"] = steps.lines.filter((l) => l.kind === "step-start").length
    counts["step outputs witnessed"] = steps.lines.filter((l) => l.kind === "step-done").length
    counts["step attempts run more than once (same idempotency key)"] = [...starts.values()].filter((n) => n > 1).length

    // Workflows.
    const lettered = new Set(
      Option.match(letters, { onNone: () => [], onSome: (l) => l.map((letter) => letter.workflow?.id ?? "") })
    )
    for (const c of Option.getOrElse(checkpoints, () => [])) {
      add(`workflows ${c.status}`)
      const task = taskState.get(c.workflowId)
      if (c.status === "running") {
        violation(
          poisoned.has(c.workflowId) && task === "failed"
            ? `${POISON_LEFT_RUNNING}: workflow ${c.workflowId}`
            : `workflow ${c.workflowId} is still running (task: ${task}${outcome(c.workflowId)})`
        )
      }
      if (c.status === "failed") {
        if (c.failure?.error.tag === "Interrupted") add("workflows failed by an interruption, not a step error")
        if (c.failure === undefined) violation(`workflow ${c.workflowId} failed with no cause stored`)
        if (!lettered.has(c.workflowId)) violation(`failed workflow ${c.workflowId} has no dead letter`)
      }
      if (task === "completed" && c.status !== "completed") {
        violation(`task ${c.workflowId} completed but its workflow is ${c.status}`)
      }
      const seen = new Set<string>()
      for (const name of c.completedSteps) {
        if (seen.has(name)) violation(`workflow ${c.workflowId}: step ${name} committed twice`)
        seen.add(name)
      }
      if (c.status === "completed" && seen.size !== STEPS.length) {
        violation(`workflow ${c.workflowId} completed with steps ${c.completedSteps.join(",")}`)
      }
      const committed = c.state as Record<string, unknown>
      for (const [name, field] of STEPS) {
        if (!seen.has(name)) continue
        add("step results committed")
        const key = `${c.workflowId}:${name}:${c.attempts[name]}`
        const outputs = done.get(key)
        const expected = Witness.hash({ [field]: committed[field] })
        if (outputs === undefined) {
          violation(`workflow ${c.workflowId}: step ${name} committed, no run witnessed (${key})`)
        } else if (!outputs.has(expected)) {
          violation(`workflow ${c.workflowId}: step ${name}'s committed result is none its runs produced (${key})`)
        }
      }
    }
    for (const [id, s] of taskState) {
      if ((s === "completed" || s === "failed") && Option.isSome(checkpoints)) {
        if (!checkpoints.value.some((c) => c.workflowId === id)) {
          violation(`task ${id} is ${s} with no workflow${outcome(id)}`)
        }
      }
    }

    // Spend: the provider's billed tokens against the router's ledger, call by call.
    const calls = Witness.read<Witness.CallLine>(input.witnessDir, "calls")
    if (calls.torn > 0) violation(`${calls.torn} torn lines in the call witness`)
    const rows = yield* sql<
      { id: string; scope: string; state: string; amount: unknown; charged: unknown; estimated: unknown }
    >`
      SELECT id, scope, state, amount, charged, estimated FROM agentos_router_reservations`
    const ledger = new Map<string, Array<typeof rows[number]>>()
    for (const row of rows) ledger.set(row.id, [...(ledger.get(row.id) ?? []), row])
    const billed = new Map<string, Witness.CallLine>()
    const sent = new Set<string>()
    for (const line of calls.lines) {
      if (line.kind === "call-sent") sent.add(line.reservation)
      else billed.set(line.reservation, line)
    }
    counts["model calls sent"] = sent.size
    counts["model calls billed"] = billed.size
    let billedMicros = 0
    let recordedMicros = 0
    for (const [reservation, line] of billed) {
      const model = DefaultCatalog.catalog.models.find((m) => m.name === line.model)
      const held = ledger.get(reservation)
      if (model === undefined || held === undefined || held.length === 0) {
        violation(`billed call ${reservation} (${line.model}) has no reservation in the ledger`)
        continue
      }
      const cost = Pricing.cost(
        model.pricing,
        TokenUsage.make({
          inputTokens: line.inputTokens ?? 0,
          outputTokens: line.outputTokens ?? 0,
          cachedInputTokens: line.cachedInputTokens ?? 0
        })
      )
      billedMicros += cost
      for (const row of held) {
        const amount = toNumber(row.amount)
        const settledWithUsage = row.state === "settled" && toNumber(row.estimated) === 0
        // Recorded: the charge once settled or expired; the whole reservation while it is held.
        const recorded = row.state === "open" ? amount : toNumber(row.charged)
        if (row.scope.startsWith("team:")) recordedMicros += recorded
        if (settledWithUsage) {
          add("billed calls settled with their usage (scope rows)")
          if (recorded !== cost) {
            violation(`call ${reservation} ${row.scope}: billed ${cost} µ$, recorded ${recorded} µ$`)
          }
        } else {
          add(`billed calls not settled with usage: ${row.state} (scope rows)`)
          if (recorded < cost || recorded > amount) {
            violation(
              `interrupted call ${reservation} ${row.scope}: recorded ${recorded} µ$ outside [${cost}, ${amount}]`
            )
          }
        }
      }
    }
    // Sent and never billed: in flight at a kill. Whatever the ledger holds for them stays within the reservation.
    for (const reservation of sent) {
      if (billed.has(reservation)) continue
      add("model calls sent, never billed (in flight at a kill)")
      for (const row of ledger.get(reservation) ?? []) {
        if (row.scope.startsWith("team:")) add(`calls never billed, ledger ${row.state}`)
      }
    }
    for (const [id, held] of ledger) {
      for (const row of held) {
        if (row.state === "settled" && toNumber(row.estimated) === 0 && !billed.has(id)) {
          violation(`reservation ${id} ${row.scope} settled with a usage no provider billed`)
        }
        if (toNumber(row.charged) > toNumber(row.amount) && row.state !== "settled") {
          violation(`reservation ${id} ${row.scope} charged beyond its amount`)
        }
      }
    }
    counts["spend billed by the provider (µ$)"] = billedMicros
    counts["spend recorded for billed calls, team scope (µ$)"] = recordedMicros

    // Budget invariants (as the budget's own conformance suite checks them).
    if (Option.isSome(dashboard)) {
      const d = dashboard.value
      let allocated = 0
      let used = d.retiredUsed
      for (const a of d.agents) {
        if (a.used < 0 || a.reserved < 0) violation(`budget agent ${a.id}: negative use or reservation`)
        if (a.used + a.reserved > a.allocated) {
          violation(`budget agent ${a.id}: used ${a.used} + reserved ${a.reserved} > allocated ${a.allocated}`)
        }
        allocated += a.allocated
        used += a.used
      }
      if (allocated + d.retiredUsed > d.total) violation(`budget: allocations ${allocated} beyond the total ${d.total}`)
      if (used > d.total) violation(`budget: use ${used} beyond the total ${d.total}`)
      if (d.used !== used) violation(`budget: the team's use ${d.used} is not the sum of its agents' ${used}`)
      counts["budget tokens used"] = d.used
      counts["budget tokens reserved"] = d.reserved
      counts["budget outstanding reservations"] = d.outstandingReservations
    }

    // The team's counter counts each format step that ran to its end: a step
    // re-run after a kill counts its report again (side effects are at least once).
    const progress = Option.flatMap(entries, (e) => Option.fromNullable(e.find((x) => x.key === "team/progress")))
    if (Option.isSome(progress)) {
      counts["team/progress reports (at least once)"] = Number(
        (progress.value.value as { reports?: number }).reports ?? 0
      )
    }
    return { counts, violations } satisfies Findings
  })

/** The packages' layers `check` reads through, over the service's `SqlClient`. */
export const layer = (tokenBudget: number) =>
  Layer.mergeAll(
    CheckpointStore.layerSql(),
    DeadLetterQueue.layerSql(),
    SharedState.layerSql(),
    TokenBudget.layerSql({ team: TEAM, total: tokenBudget, period: { unit: "day" } })
  )
