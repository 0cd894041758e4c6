/**
 * One conformance suite, run unchanged against every backend of a store.
 *
 * A suite is data: a list of named cases, each an Effect that needs the
 * store's service. `conformance` registers it with vitest once per backend
 * (memory, a temporary SQLite file, a temporary Postgres schema), building a
 * fresh store for every case; `runSuite` runs it programmatically and returns
 * a report (the kit uses it to prove that a wrong backend fails a suite).
 *
 * Under `CI=true` the Postgres backend is never skipped: without
 * `AGENTOS_TEST_PG_URL` its cases fail.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as TestContext from "effect/TestContext"
import { type BackendName, isCI, pgUrl, postgres, sqlite } from "./Backends.js"

/** One case of a suite. */
export interface Case<R> {
  readonly name: string
  readonly run: Effect.Effect<void, unknown, R | Scope.Scope>
  /** Run with the real clock (for leases judged by a database's clock). */
  readonly live?: boolean
  /** Milliseconds; vitest's default otherwise. */
  readonly timeout?: number
  /** Backends this case does not apply to (say why in its name). */
  readonly skip?: ReadonlyArray<BackendName>
}

/** A suite: cases that a backend has to pass. */
export type Suite<R> = ReadonlyArray<Case<R>>

/** Builds a case. */
export const test = <R>(
  name: string,
  run: Effect.Effect<void, unknown, R | Scope.Scope>,
  options: Omit<Case<R>, "name" | "run"> = {}
): Case<R> => ({ name, run, ...options })

/** The store layers a suite runs against. */
export interface StoreLayers<R> {
  readonly memory?: Layer.Layer<R, unknown>
  readonly sql?: Layer.Layer<R, unknown, SqlClient.SqlClient>
  /** Extra backends, e.g. a file-system store: name → layer. */
  readonly extra?: Record<string, Layer.Layer<R, unknown>>
}

/** What `runSuite` reports. */
export interface Report {
  readonly passed: ReadonlyArray<string>
  readonly failed: ReadonlyArray<{ readonly name: string; readonly cause: string }>
}

const runCase = <R>(c: Case<R>, layer: Layer.Layer<R, unknown>) => {
  const program = Effect.scoped(Effect.provide(c.run, layer))
  return c.live === true ? program : Effect.provide(program, TestContext.TestContext)
}

/** Runs a suite against one layer, one fresh build per case, and reports. */
export const runSuite = <R>(suite: Suite<R>, layer: Layer.Layer<R, unknown>): Effect.Effect<Report> =>
  Effect.gen(function*() {
    const passed: Array<string> = []
    const failed: Array<{ name: string; cause: string }> = []
    for (const c of suite) {
      const exit = yield* Effect.exit(runCase(c, layer))
      if (Exit.isSuccess(exit)) passed.push(c.name)
      else failed.push({ name: c.name, cause: Cause.pretty(exit.cause) })
    }
    return { passed, failed }
  })

const registerCases = <R>(backend: string, suite: Suite<R>, layer: Layer.Layer<R, unknown>) => {
  for (const c of suite) {
    if (c.skip?.includes(backend as BackendName) === true) continue
    const body = () => Effect.provide(c.run, layer)
    if (c.live === true) it.scopedLive(c.name, body, c.timeout)
    else it.scoped(c.name, body, c.timeout)
  }
}

/**
 * Registers a suite with vitest once per backend: `<name> › memory`,
 * `<name> › sqlite`, `<name> › postgres` (and any extra backends).
 */
export const conformance = <R>(name: string, layers: StoreLayers<R>, suite: Suite<R>): void => {
  describe(name, () => {
    if (layers.memory !== undefined) {
      const memory = layers.memory
      describe("memory", () => registerCases("memory", suite, memory))
    }
    for (const [extra, layer] of Object.entries(layers.extra ?? {})) {
      describe(extra, () => registerCases(extra, suite, layer))
    }
    if (layers.sql !== undefined) {
      const sql = layers.sql
      describe("sqlite", () => registerCases("sqlite", suite, Layer.provide(sql, sqlite())))
      if (pgUrl() !== undefined) {
        describe("postgres", () => registerCases("postgres", suite, Layer.provide(sql, postgres())))
      } else if (isCI()) {
        describe("postgres", () => {
          it("is not skipped under CI", () => {
            throw new Error("CI=true but AGENTOS_TEST_PG_URL is not set: the Postgres backend may not be skipped")
          })
        })
      } else {
        describe.skip("postgres (AGENTOS_TEST_PG_URL not set)", () =>
          registerCases("postgres", suite, Layer.empty as never))
      }
    }
  })
}
