// The BudgetLedger contract on SqlClient (SQLite and Postgres). Every
// operation is one transaction that first locks and reads the team's row with
// a no-op `UPDATE … RETURNING` (a row lock on Postgres; on SQLite it takes the
// database's write lock at once, so the busy timeout applies instead of a
// failed lock upgrade), then loads the agents and the reservations it needs,
// runs the rules and writes only what changed. Expired reservations
// are found by the database's clock (core's Reservation.sqlExpired) and new
// ones get their expiry from it (Reservation.sqlExpiresAt), so processes with
// skewed clocks agree. Transient failures (a busy SQLite, a Postgres
// serialisation failure or deadlock) retry the whole transaction.
import * as Reservation from "@agentos/core/Reservation"
import * as Sql from "@agentos/core/Sql"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Effect from "effect/Effect"
import type { PeriodSummary, ReservationState, Transfer } from "../Budget.js"
import { StoreError } from "../Errors.js"
import { migrations } from "./migrations.js"
import {
  type AgentRow,
  type BudgetLedger,
  type FastGuard,
  type FastOutcome,
  loanKey,
  type LoanRow,
  type ReservationRow,
  type TeamRow
} from "./store.js"

type Row = Record<string, unknown>

const num = (value: unknown): number => Sql.toNumber(value)

/** A nullable number column (an expiry): `null` stays `null`. */
const numOrNull = (value: unknown): number | null => value === null || value === undefined ? null : num(value)

/** A team's row; `used` is read from `team_used` where a join with the agents names it so. */
const teamOf = (row: Row, usedColumn: "used" | "team_used" = "used"): TeamRow => ({
  total: num(row.total),
  periodKey: String(row.period_key),
  retiredUsed: num(row.retired_used),
  retiredOverage: num(row.retired_overage),
  steals: num(row.steals),
  reclaims: num(row.reclaims),
  used: num(row[usedColumn])
})

const agentOf = (row: Row): AgentRow => ({
  id: String(row.id),
  weight: num(row.weight),
  minShare: num(row.min_share),
  maxShare: num(row.max_share),
  allocated: num(row.allocated),
  used: num(row.used),
  reserved: num(row.reserved),
  overage: num(row.overage),
  lastActivity: num(row.last_activity),
  seq: num(row.seq)
})

const loansOf = (column: unknown): Array<LoanRow> => {
  const value = Sql.parseJson(column)
  if (!Array.isArray(value)) throw new TypeError("budget store: a team's loans are not an array")
  return value.map((loan: Record<string, unknown>) => ({
    lender: String(loan.lender),
    borrower: String(loan.borrower),
    amount: num(loan.amount)
  }))
}

const reservationOf = (row: Row): ReservationRow => ({
  id: String(row.id),
  agent: String(row.agent),
  requested: num(row.requested),
  amount: num(row.amount),
  state: String(row.state) as ReservationState,
  expiresAt: numOrNull(row.expires_at),
  actual: num(row.actual),
  charged: num(row.charged),
  refunded: num(row.refunded),
  overage: num(row.overage)
})

const transferOf = (row: Row): Transfer => ({
  kind: row.kind === "reclaim" ? "reclaim" : "steal",
  from: String(row.from_agent),
  to: String(row.to_agent),
  amount: num(row.amount),
  at: num(row.at)
})

const summaryOf = (row: Row): PeriodSummary => ({
  period: String(row.period),
  total: num(row.total),
  used: num(row.used),
  overage: num(row.overage),
  steals: num(row.steals),
  reclaims: num(row.reclaims),
  endedAt: num(row.ended_at)
})

const RESERVATION_COLUMNS = "id, agent, requested, amount, state, expires_at, actual, charged, refunded, overage"

/** Agent rows per upsert: 12 parameters each, well under SQLite's 32,766. */
const AGENT_ROWS_PER_STATEMENT = 1_000

export const make = (
  options: { readonly team: string; readonly settlementRetentionMillis: number }
): Effect.Effect<BudgetLedger, StoreError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* Sql.migrate({ packageName: "budget", migrations }).pipe(
      Effect.mapError((cause) => new StoreError({ operation: "migrate", cause }))
    )
    const team = options.team
    const retention = options.settlementRetentionMillis
    const dbNow = Sql.nowMillis(sql)
    // A transaction deletes forgotten settlements at most this often.
    const pruneEvery = Math.max(1_000, Math.ceil(retention / 4))
    const columns = sql.literal(RESERVATION_COLUMNS)

    // The team's row with its agents, and whether a held reservation may have
    // expired (by the database's clock), in one statement.
    const teamWithAgents = sql<
      Row
    >`SELECT t.total, t.period_key, t.retired_used, t.retired_overage, t.used AS team_used, t.steals,
        t.reclaims, t.loans, t.next_expiry, CASE WHEN t.next_expiry IS NOT NULL AND ${
      Reservation.sqlExpired(sql, "t.next_expiry")
    } THEN 1 ELSE 0 END AS sweep,
        CASE WHEN t.next_prune IS NULL OR t.next_prune <= ${dbNow} THEN 1 ELSE 0 END AS prune,
        a.id, a.weight, a.min_share, a.max_share, a.allocated, a.used, a.reserved, a.overage, a.last_activity, a.seq
      FROM agentos_budget_teams t LEFT JOIN agentos_budget_agents a ON a.team = t.team
      WHERE t.team = ${team}`
    // Locks the team's row first, in a statement of its own: a row lock on
    // Postgres (the read that follows is a new statement, so under READ
    // COMMITTED it sees what the previous holder committed; a join locked in
    // the same statement would return the agents as they were before the
    // wait); on SQLite a no-op UPDATE takes the database's write lock at once,
    // so the busy timeout applies instead of a failed lock upgrade.
    const lockTeam = Effect.zipRight(
      Sql.isPg(sql)
        ? sql`SELECT 1 FROM agentos_budget_teams WHERE team = ${team} FOR UPDATE`
        : sql`UPDATE agentos_budget_teams SET total = total WHERE team = ${team}`,
      teamWithAgents
    )

    const transact: BudgetLedger["transact"] = (operation, reservationId, rules) =>
      sql.withTransaction(Effect.gen(function*() {
        const rows = yield* lockTeam
        const teams = rows.slice(0, 1)
        const agents = rows.filter((row) => row.id !== null && row.id !== undefined)
        const sweep = rows.length > 0 && num(rows[0]!.sweep) === 1
        // Held reservations expired by the database's clock, and the one the operation names.
        const reservations = !sweep && reservationId === undefined
          ? []
          : yield* sql<Row>`SELECT ${columns},
            CASE WHEN state = 'held' AND expires_at IS NOT NULL AND ${
            Reservation.sqlExpired(sql, "expires_at")
          } THEN 1 ELSE 0 END AS expired
          FROM agentos_budget_reservations
          WHERE team = ${team} AND ((state = 'held' AND expires_at IS NOT NULL AND ${
            Reservation.sqlExpired(sql, "expires_at")
          }) OR (id = ${reservationId ?? ""}
            AND (state = 'held' OR settled_at IS NULL OR settled_at > ${dbNow} - ${retention})))`
        const loans = teams.length === 0 ? [] : loansOf(teams[0]!.loans)
        const expired: Array<ReservationRow> = []
        let target: ReservationRow | undefined
        for (const row of reservations) {
          const reservation = reservationOf(row)
          if (num(row.expired) === 1) expired.push(reservation)
          if (reservationId !== undefined && reservation.id === reservationId) target = reservation
        }
        const current = teams.length === 0 ? undefined : teamOf(teams[0]!, "team_used")
        const outcome = rules({ team: current, agents: agents.map(agentOf), loans, expired, target })
        if (outcome._tag === "Fail") return yield* Effect.fail(outcome.error)
        const changes = outcome.changes
        const loansChanged = changes.clearLoans || changes.loans.length > 0
        const t = changes.team ?? (loansChanged ? current : undefined)
        if (t !== undefined) {
          const nextLoans = new Map<string, LoanRow>()
          if (!changes.clearLoans) {
            for (const loan of loans) nextLoans.set(loanKey(loan.lender, loan.borrower), loan)
          }
          for (const loan of changes.loans) nextLoans.set(loanKey(loan.lender, loan.borrower), loan)
          const loanList = Array.from(nextLoans.values()).filter((loan) => loan.amount > 0)
          yield* sql`INSERT INTO agentos_budget_teams
            (team, total, period_key, retired_used, retired_overage, used, steals, reclaims, loans)
            VALUES (${team}, ${t.total}, ${t.periodKey}, ${t.retiredUsed}, ${t.retiredOverage}, ${t.used}, ${t.steals},
              ${t.reclaims}, ${Sql.json(sql, loanList)})
            ON CONFLICT (team) DO UPDATE SET total = excluded.total, period_key = excluded.period_key,
              retired_used = excluded.retired_used, retired_overage = excluded.retired_overage, used = excluded.used,
              steals = excluded.steals, reclaims = excluded.reclaims, loans = excluded.loans`
        }
        // In chunks: a rebalance may change every agent's row, and a statement
        // holds at most 32,766 parameters on SQLite (65,535 on Postgres), 12 a row.
        for (let at = 0; at < changes.agents.length; at += AGENT_ROWS_PER_STATEMENT) {
          yield* sql`INSERT INTO agentos_budget_agents ${
            sql.insert(
              changes.agents.slice(at, at + AGENT_ROWS_PER_STATEMENT).map((a) => ({
                team,
                id: a.id,
                weight: a.weight,
                min_share: a.minShare,
                max_share: a.maxShare,
                allocated: a.allocated,
                used: a.used,
                reserved: a.reserved,
                overage: a.overage,
                last_activity: a.lastActivity,
                seq: a.seq
              }))
            )
          }
            ON CONFLICT (team, id) DO UPDATE SET weight = excluded.weight, min_share = excluded.min_share,
              max_share = excluded.max_share, allocated = excluded.allocated, used = excluded.used,
              reserved = excluded.reserved, overage = excluded.overage, last_activity = excluded.last_activity`
        }
        if (changes.removedAgents.length > 0) {
          yield* sql`DELETE FROM agentos_budget_agents WHERE team = ${team} AND ${sql.in("id", changes.removedAgents)}`
        }
        for (const row of changes.settled) {
          yield* sql`UPDATE agentos_budget_reservations SET state = ${row.state}, actual = ${row.actual},
            charged = ${row.charged}, refunded = ${row.refunded}, overage = ${row.overage}, fast_at = NULL,
            settled_at = ${dbNow}
            WHERE team = ${team} AND id = ${row.id}`
        }
        let expiresAt: number | null = null
        const added = changes.reservation
        if (added !== undefined) {
          const expiry = added.ttlMillis === null
            ? sql.literal("NULL")
            : Reservation.sqlExpiresAt(sql, added.ttlMillis)
          const inserted = yield* sql<Row>`INSERT INTO agentos_budget_reservations
            (team, id, agent, requested, amount, state, expires_at, actual, charged, refunded, overage)
            VALUES (${team}, ${added.id}, ${added.agent}, ${added.requested}, ${added.amount}, 'held', ${expiry},
              0, 0, 0, 0)
            RETURNING expires_at`
          expiresAt = numOrNull(inserted[0]?.expires_at)
        }
        const nextExpiry = numOrNull(teams[0]?.next_expiry)
        if (sweep) {
          yield* sql`UPDATE agentos_budget_teams SET next_expiry = (
              SELECT min(expires_at) FROM agentos_budget_reservations
              WHERE team = ${team} AND state = 'held' AND expires_at IS NOT NULL)
            WHERE team = ${team}`
        } else if (expiresAt !== null && (nextExpiry === null || expiresAt < nextExpiry)) {
          yield* sql`UPDATE agentos_budget_teams SET next_expiry = ${expiresAt} WHERE team = ${team}`
        }
        if (rows.length > 0 && num(rows[0]!.prune) === 1) {
          yield* sql`DELETE FROM agentos_budget_reservations
            WHERE team = ${team} AND state <> 'held' AND settled_at <= ${dbNow} - ${retention}`
          yield* sql`UPDATE agentos_budget_teams SET next_prune = ${dbNow} + ${pruneEvery} WHERE team = ${team}`
        }
        if (changes.transfers.length > 0) {
          yield* sql`INSERT INTO agentos_budget_transfers ${
            sql.insert(changes.transfers.map((t) => ({
              team,
              kind: t.kind,
              from_agent: t.from,
              to_agent: t.to,
              amount: t.amount,
              at: t.at
            })))
          }`
        }
        if (changes.history.length > 0) {
          yield* sql`INSERT INTO agentos_budget_history ${
            sql.insert(changes.history.map((h) => ({
              team,
              period: h.period,
              total: h.total,
              used: h.used,
              overage: h.overage,
              steals: h.steals,
              reclaims: h.reclaims,
              ended_at: h.endedAt
            })))
          } ON CONFLICT (team, period) DO NOTHING`
          // A new period forgets the settlements and the alerts of the last one.
          yield* sql`DELETE FROM agentos_budget_reservations WHERE team = ${team} AND state <> 'held'`
          if (t !== undefined) {
            yield* sql`DELETE FROM agentos_budget_alerts WHERE team = ${team} AND period <> ${t.periodKey}`
          }
        }
        return { result: outcome.result, expiresAt }
      })).pipe(
        Sql.retryTransient(),
        Sql.mapError((cause) => new StoreError({ operation, cause }))
      )

    // The view's reads see one state: the team's row (its use, which a fast
    // commit moves with the agent's in one statement) and its agents as of one
    // instant. SQLite's read transaction gives that; Postgres' READ COMMITTED
    // takes a snapshot per statement, so there the view's own transaction is
    // REPEATABLE READ (read-only: it never meets a serialisation failure).
    // Inside a caller's transaction, the caller's isolation applies.
    const oneSnapshot: Effect.Effect<void, SqlError> = Sql.isPg(sql)
      ? Effect.flatMap(
        Effect.serviceOption(SqlClient.TransactionConnection),
        (connection) =>
          connection._tag === "Some" && connection.value[1] === 0
            ? Effect.asVoid(sql`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`)
            : Effect.void
      )
      : Effect.void

    const view: BudgetLedger["view"] = (transferLimit) =>
      sql.withTransaction(Effect.gen(function*() {
        yield* oneSnapshot
        const teams = yield* sql<Row>`SELECT * FROM agentos_budget_teams WHERE team = ${team}`
        const agents = yield* sql<Row>`SELECT * FROM agentos_budget_agents WHERE team = ${team}`
        const held = yield* sql<Row>`SELECT count(*) AS n FROM agentos_budget_reservations
          WHERE team = ${team} AND state = 'held'`
        const transfers = yield* sql<Row>`SELECT kind, from_agent, to_agent, amount, at FROM agentos_budget_transfers
          WHERE team = ${team} ORDER BY seq DESC LIMIT ${transferLimit}`
        const history = yield* sql<Row>`SELECT * FROM agentos_budget_history WHERE team = ${team}
          ORDER BY ended_at, period`
        return {
          team: teams.length === 0 ? undefined : teamOf(teams[0]!),
          agents: agents.map(agentOf),
          loans: teams.length === 0 ? [] : loansOf(teams[0]!.loans),
          held: num(held[0]?.n ?? 0),
          transfers: transfers.map(transferOf),
          history: history.map(summaryOf)
        }
      })).pipe(
        Sql.retryTransient(),
        Sql.mapError((cause) => new StoreError({ operation: "view", cause }))
      )

    // -------------------------------------------------------------------------
    // Fast paths: reserve and commit touching only the agent's row, the
    // reservation and (commit) the team's use, when nothing else would change.
    // The team's row is read in the same statement under the guard (this
    // period, this total, no expiry due, the agent lent nothing); on Postgres
    // it is locked FOR KEY SHARE, which waits for a transaction that holds it
    // FOR UPDATE (every `transact` does) and makes `transact` wait for it, but
    // lets fast paths of other agents run side by side. The agent's row is
    // changed by a conditional UPDATE (its check re-evaluated by Postgres on
    // the row's latest version), so the guarantee comes from the database's
    // row locks, never from a read in this process.
    const AGENT_COLUMNS = sql.literal("a.id, a.allocated, a.used")
    // SQLite: the agent's and the team's figures after the statement and its
    // (BEFORE) triggers, read by its RETURNING.
    const sqliteFigures = sql.literal(
      `(SELECT a.used FROM agentos_budget_agents a WHERE a.team = agentos_budget_reservations.team
        AND a.id = agentos_budget_reservations.agent) AS used,
      (SELECT a.allocated FROM agentos_budget_agents a WHERE a.team = agentos_budget_reservations.team
        AND a.id = agentos_budget_reservations.agent) AS allocated,
      (SELECT t.used FROM agentos_budget_teams t WHERE t.team = agentos_budget_reservations.team) AS team_used`
    )
    const pg = Sql.isPg(sql)
    const noExpiryDue = sql`(t.next_expiry IS NULL OR ${Reservation.sqlHeld(sql, "t.next_expiry")})`
    const lendsNothing = (agent: string) =>
      pg
        ? sql`NOT (t.loans @> jsonb_build_array(jsonb_build_object('lender', ${agent}::text)))`
        : sql`NOT EXISTS (SELECT 1 FROM json_each(t.loans) l WHERE json_extract(l.value, '$.lender') = ${agent})`
    // A new reservation expires no earlier than the team's next expiry, so
    // next_expiry (at most the earliest held expiry) stays right unchanged.
    const expiresAfterNext = (ttl: number | null) =>
      ttl === null
        ? noExpiryDue
        : sql`(t.next_expiry IS NOT NULL AND ${Reservation.sqlHeld(sql, "t.next_expiry")}
          AND t.next_expiry <= ${Reservation.sqlExpiresAt(sql, ttl)})`
    // ... and no prune of forgotten settlements is due (a transaction does it).
    const guard = (input: FastGuard) =>
      sql`t.team = ${team} AND t.period_key = ${input.periodKey} AND t.total = ${input.total}
        AND (t.next_prune IS NULL OR t.next_prune > ${dbNow})`
    const expiryOf = (ttl: number | null) => ttl === null ? sql.literal("NULL") : Reservation.sqlExpiresAt(sql, ttl)

    const fastOutcome = (row: Row, amount: number): FastOutcome => ({
      agent: String(row.id),
      used: num(row.used),
      allocated: num(row.allocated),
      teamUsed: num(row.team_used),
      amount,
      expiresAt: numOrNull(row.expires_at)
    })

    type Args = ReadonlyArray<unknown>

    /**
     * A statement compiled once, with sentinel arguments, to its SQL text and
     * the place of each argument among its parameters: a call binds its
     * arguments to that text (`sql.unsafe`), the same statement every time,
     * without building and compiling the template per call. `numeric` names
     * the arguments that must be numbers when the statement is built (a ttl
     * that core's Reservation.sqlExpiresAt checks). It is compiled twice,
     * with two sets of sentinels: a parameter is an argument's place only
     * where it holds that argument's sentinel in both, so a value of the
     * store's own (the team's name) that equals a sentinel stays that value.
     */
    const compiled = (
      build: (args: Args) => Statement.Statement<Row>,
      arity: number,
      numeric: ReadonlyArray<number>
    ) => {
      const sentinelsOf = (set: number): Array<unknown> =>
        Array.from(
          { length: arity },
          (_, i) => numeric.includes(i) ? 2 ** 52 + set * 64 + i : `\u0000agentos_budget:${set}:${i}\u0000`
        )
      const first = sentinelsOf(0)
      const second = sentinelsOf(1)
      const [text, params] = build(first).compile()
      const [text2, params2] = build(second).compile()
      if (text !== text2 || params.length !== params2.length) {
        throw new Error("budget store: a statement argument was compiled into the SQL text")
      }
      const slots = params.map((param, i) => {
        const slot = first.indexOf(param)
        if (slot >= 0 && params2[i] === second[slot]) return slot
        if (param !== params2[i]) throw new Error("budget store: a statement parameter depends on its arguments")
        return -1
      })
      return (args: Args) => {
        const values = new Array<unknown>(params.length)
        for (let i = 0; i < values.length; i++) {
          const slot = slots[i]!
          values[i] = slot >= 0 ? args[slot] : params[i]
        }
        return sql.unsafe<Row>(text, values)
      }
    }

    // reserve's arguments: id, agent, tokens, now, periodKey, total, ttl.
    const reserveStatement = (ttl: "ttl" | "never") => (args: Args) => {
      const [id, agent, tokens, now, periodKey, total, ttlMillis] = args as [
        string,
        string,
        number,
        number,
        string,
        number,
        number
      ]
      const guarded = guard({ periodKey, total, now })
      const expiry = ttl === "never" ? null : ttlMillis
      return pg
        ? sql<Row>`WITH t AS (
              SELECT t.team, t.used FROM agentos_budget_teams t
              WHERE ${guarded} AND ${expiresAfterNext(expiry)} AND ${lendsNothing(agent)}
              FOR KEY SHARE
            ), a AS (
              UPDATE agentos_budget_agents AS a SET reserved = a.reserved + ${tokens}, last_activity = ${now}
              FROM t WHERE a.team = t.team AND a.id = ${agent} AND a.allocated - a.used - a.reserved >= ${tokens}
              RETURNING ${AGENT_COLUMNS}, t.used AS team_used
            ), r AS (
              INSERT INTO agentos_budget_reservations
                (team, id, agent, requested, amount, state, expires_at, actual, charged, refunded, overage, fast_at)
              SELECT ${team}, ${id}, a.id, ${tokens}, ${tokens}, 'held', ${expiryOf(expiry)}, 0, 0, 0, 0, ${now}
              FROM a
              RETURNING expires_at
            )
            SELECT a.*, r.expires_at FROM a, r`
        : sql<Row>`INSERT INTO agentos_budget_reservations
              (team, id, agent, requested, amount, state, expires_at, actual, charged, refunded, overage, fast_at)
            SELECT a.team, ${id}, a.id, ${tokens}, ${tokens}, 'held', ${expiryOf(expiry)}, 0, 0, 0, 0, ${now}
            FROM agentos_budget_agents a JOIN agentos_budget_teams t ON t.team = a.team
            WHERE a.team = ${team} AND a.id = ${agent} AND a.allocated - a.used - a.reserved >= ${tokens}
              AND ${guarded} AND ${expiresAfterNext(expiry)} AND ${lendsNothing(agent)}
            RETURNING agent AS id, expires_at, ${sqliteFigures}`
    }
    const reserveWithTtl = compiled(reserveStatement("ttl"), 7, [6])
    const reserveNever = compiled(reserveStatement("never"), 7, [6])

    const reserveFast: BudgetLedger["reserveFast"] = (input) =>
      Effect.map(
        (input.ttlMillis === null ? reserveNever : reserveWithTtl)([
          input.id,
          input.agent,
          input.tokens,
          input.now,
          input.periodKey,
          input.total,
          input.ttlMillis ?? 0
        ]),
        (rows) => rows.length === 0 ? undefined : fastOutcome(rows[0]!, input.tokens)
      ).pipe(
        Sql.retryTransient(),
        Sql.mapError((cause) => new StoreError({ operation: "reserve", cause }))
      )

    // commit's arguments: id, actual, now, periodKey, total.
    // A held reservation of a positive amount keeps its agent's reserved
    // above zero, and an agent that holds reservations cannot be removed:
    // the reservation's UPDATE matching implies the agent's UPDATE matches.
    const commitStatement = compiled(
      (args: Args) => {
        const [id, actual, now, periodKey, total] = args as [string, number, number, string, number]
        const guarded = guard({ periodKey, total, now })
        return pg
          ? sql<Row>`WITH t AS (
              SELECT t.team FROM agentos_budget_teams t
              WHERE ${guarded} AND ${noExpiryDue}
              FOR KEY SHARE
            ), r AS (
              UPDATE agentos_budget_reservations AS r SET state = 'committed', actual = ${actual},
                charged = ${actual}, refunded = r.amount - ${actual}, overage = 0, fast_at = ${now},
                settled_at = ${dbNow}
              FROM t WHERE r.team = t.team AND r.id = ${id} AND r.state = 'held' AND r.amount > 0
                AND r.amount >= ${actual}
                AND (r.expires_at IS NULL OR ${Reservation.sqlHeld(sql, "r.expires_at")})
              RETURNING r.agent, r.amount, r.expires_at
            ), a AS (
              UPDATE agentos_budget_agents AS a SET used = a.used + ${actual}, reserved = a.reserved - r.amount,
                last_activity = ${now}
              FROM r WHERE a.team = ${team} AND a.id = r.agent
              RETURNING ${AGENT_COLUMNS}, r.amount AS held, r.expires_at
            ), u AS (
              UPDATE agentos_budget_teams AS u SET used = u.used + ${actual}
              FROM a WHERE u.team = ${team}
              RETURNING u.used
            )
            SELECT a.*, u.used AS team_used FROM a, u`
          : sql<Row>`UPDATE agentos_budget_reservations SET state = 'committed', actual = ${actual},
              charged = ${actual}, refunded = amount - ${actual}, overage = 0, fast_at = ${now},
              settled_at = ${dbNow}
            WHERE team = ${team} AND id = ${id} AND state = 'held' AND amount > 0 AND amount >= ${actual}
              AND (expires_at IS NULL OR ${Reservation.sqlHeld(sql, "expires_at")})
              AND EXISTS (SELECT 1 FROM agentos_budget_teams t WHERE ${guarded} AND ${noExpiryDue})
            RETURNING agent AS id, amount AS held, expires_at, ${sqliteFigures}`
      },
      5,
      []
    )

    const commitFast: BudgetLedger["commitFast"] = (input) =>
      Effect.map(
        commitStatement([input.id, input.actual, input.now, input.periodKey, input.total]),
        (rows) => rows.length === 0 ? undefined : fastOutcome(rows[0]!, num(rows[0]!.held))
      ).pipe(
        Sql.retryTransient(),
        Sql.mapError((cause) => new StoreError({ operation: "commit", cause }))
      )

    const claimAlerts: BudgetLedger["claimAlerts"] = (period, keys) =>
      Effect.map(
        sql<Row>`INSERT INTO agentos_budget_alerts ${
          sql.insert(keys.map((alert) => ({ team, period, alert })))
        } ON CONFLICT DO NOTHING RETURNING alert`,
        (rows) => rows.map((row) => String(row.alert))
      ).pipe(
        Sql.retryTransient(),
        Sql.mapError((cause) => new StoreError({ operation: "claimAlerts", cause }))
      )

    return { transact, reserveFast, commitFast, claimAlerts, view }
  })
