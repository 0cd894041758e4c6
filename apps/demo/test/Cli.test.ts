// The operator CLI (`agentos`) against the service started in-process on a
// random port: every command, its table and its JSON, and the exit code of
// every kind of failure. The commands run in-process (`Cli.run`) with a
// captured console; one test runs the bin as a child process.
import { FetchHttpClient } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { assert, describe, it, layer } from "@effect/vitest"
import { ConfigProvider, Context, Duration, Effect, Layer, Logger, LogLevel } from "effect"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import * as Cli from "../src/cli/Cli.js"
import { ExitCode } from "../src/cli/Errors.js"
import { client, config, eventually, freePort, start, tempDir, withToken } from "./harness.js"

interface Result {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs `agentos <args>` in-process with only `env` as its environment; captures its console. */
const agentos = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const stdout: Array<string> = []
    const stderr: Array<string> = []
    const live = yield* Effect.console
    const captured = {
      ...live,
      log: (...parts: ReadonlyArray<unknown>) => Effect.sync(() => void stdout.push(parts.join(" "))),
      error: (...parts: ReadonlyArray<unknown>) => Effect.sync(() => void stderr.push(parts.join(" ")))
    }
    const code = yield* Cli.run(args).pipe(
      Effect.withConsole(captured),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
      Effect.provide(Layer.merge(NodeContext.layer, FetchHttpClient.layer))
    )
    return { code, stdout: stdout.join("\n"), stderr: stderr.join("\n") } satisfies Result
  })

const expectCode = (result: Result, code: number) =>
  assert.strictEqual(result.code, code, `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`)

/** A table's row (by its first cell) split into its cells. */
const row = (text: string, first: string): ReadonlyArray<string> => {
  const line = text.split("\n").find((l) => l.startsWith(`${first} `) || l === first)
  assert.isDefined(line, `no row ${first} in\n${text}`)
  return line!.split(/\s{2,}/)
}

const quiet = <A, E, R>(effect: Effect.Effect<A, E, R>) => Logger.withMinimumLogLevel(effect, LogLevel.None)

const finished = (base: string, id: string, token?: string) =>
  eventually(
    Effect.map(client(base, token).request("GET", `/tasks/${id}`), (r) =>
      r.body?.status === "accepted" ? undefined : r.body)
  )

// ---------------------------------------------------------------- a healthy service

class Healthy extends Context.Tag("test/Healthy")<Healthy, {
  readonly base: string
  readonly taskId: string
  readonly workflowId: string
}>() {}

const healthy = Layer.scoped(
  Healthy,
  Effect.gen(function*() {
    const dir = yield* tempDir
    // Model calls take a while, so that a workflow can be caught running and cancelled.
    const { base } = yield* start(
      config({ simLatency: Duration.millis(300) }),
      SqliteClient.layer({ filename: Path.join(dir, "agentos.db") })
    )
    const started = yield* client(base).request("POST", "/workflows", {
      body: { topic: "agent runtimes", agent: "analyst" }
    })
    const task = yield* finished(base, started.body.id)
    assert.strictEqual(task.status, "completed")
    return { base, taskId: started.body.id as string, workflowId: started.body.workflowId as string }
  }).pipe(quiet)
)

layer(healthy, { timeout: 120_000, excludeTestServices: true })("agentos against a healthy service", (it) => {
  it.effect("workflows list: a table row per workflow, and the page as JSON", () =>
    Effect.gen(function*() {
      const { base, workflowId } = yield* Healthy
      const listed = yield* agentos(["workflows", "list", "--url", base])
      expectCode(listed, ExitCode.Ok)
      assert.deepStrictEqual(row(listed.stdout, "ID").slice(0, 5), ["ID", "STATUS", "AGENT", "TOPIC", "STEPS"])
      assert.deepStrictEqual(row(listed.stdout, workflowId).slice(0, 5), [
        workflowId,
        "completed",
        "analyst",
        "agent runtimes",
        "4/4"
      ])
      const json = yield* agentos(["workflows", "list", "--url", base, "--json", "--status", "completed"])
      expectCode(json, ExitCode.Ok)
      const page = JSON.parse(json.stdout)
      assert.include(page.items.map((w: any) => w.id), workflowId)
      const none = yield* agentos(["workflows", "list", "--url", base, "--status", "failed"])
      expectCode(none, ExitCode.Ok)
      assert.strictEqual(none.stdout, "(none)")
    }))

  it.effect("workflows show: the workflow's fields and a row per step; JSON is the service's view", () =>
    Effect.gen(function*() {
      const { base, workflowId } = yield* Healthy
      const shown = yield* agentos(["workflows", "show", workflowId, "--url", base])
      expectCode(shown, ExitCode.Ok)
      assert.deepStrictEqual(row(shown.stdout, "status"), ["status", "completed"])
      assert.deepStrictEqual(row(shown.stdout, "steps done"), ["steps done", "4/4"])
      for (const step of ["gather-requirements", "search-sources", "synthesize", "format"]) {
        assert.deepStrictEqual(row(shown.stdout, step), [step, "completed", "1"])
      }
      const json = JSON.parse((yield* agentos(["workflows", "show", workflowId, "--url", base, "--json"])).stdout)
      assert.strictEqual(json.id, workflowId)
      assert.strictEqual(json.steps.length, 4)
    }))

  it.effect("tasks show: the task's fields; JSON is the task record", () =>
    Effect.gen(function*() {
      const { base, taskId, workflowId } = yield* Healthy
      const shown = yield* agentos(["tasks", "show", taskId, "--url", base])
      expectCode(shown, ExitCode.Ok)
      assert.deepStrictEqual(row(shown.stdout, "status"), ["status", "completed"])
      assert.deepStrictEqual(row(shown.stdout, "workflow"), ["workflow", workflowId])
      const json = JSON.parse((yield* agentos(["tasks", "show", taskId, "--url", base, "--json"])).stdout)
      assert.strictEqual(json.status, "completed")
      assert.strictEqual(json.agent, "analyst")
    }))

  it.effect("a finished task or workflow is not cancelled or resumed: exit 5 with the reason", () =>
    Effect.gen(function*() {
      const { base, taskId, workflowId } = yield* Healthy
      const task = yield* agentos(["tasks", "cancel", taskId, "--url", base])
      expectCode(task, ExitCode.Refused)
      assert.include(task.stderr, `task ${taskId} is already completed`)
      const workflow = yield* agentos(["workflows", "cancel", workflowId, "--url", base, "--json"])
      expectCode(workflow, ExitCode.Refused)
      assert.deepStrictEqual(JSON.parse(workflow.stdout), { outcome: "already-completed" })
      assert.strictEqual(JSON.parse(workflow.stderr).error.exitCode, ExitCode.Refused)
      const resumed = yield* agentos(["workflows", "resume", workflowId, "--url", base])
      expectCode(resumed, ExitCode.Refused)
      assert.include(resumed.stderr, "only a failed or cancelled workflow is retried")
    }))

  it.effect(
    "tasks cancel stops a running task; workflows resume runs it again to completion",
    () =>
      Effect.gen(function*() {
        const { base } = yield* Healthy
        const started = (yield* client(base).request("POST", "/workflows", { body: { topic: "cancel me" } })).body
        const id: string = started.id
        const workflowId: string = started.workflowId
        // Its workflow exists once the task runs.
        yield* eventually(
          Effect.map(agentos(["workflows", "show", workflowId, "--url", base]), (r) =>
            r.code === ExitCode.Ok ? r : undefined)
        )
        const cancelled = yield* agentos(["tasks", "cancel", id, "--url", base])
        expectCode(cancelled, ExitCode.Ok)
        assert.match(cancelled.stdout, new RegExp(`^task ${id}: (cancelled|cancellation requested)`))
        const task = yield* finished(base, id)
        assert.strictEqual(task.status, "cancelled")
        expectCode(yield* agentos(["tasks", "cancel", id, "--url", base]), ExitCode.Refused)

        const resumed = yield* agentos(["workflows", "resume", workflowId, "--url", base, "--json"])
        expectCode(resumed, ExitCode.Ok)
        const accepted = JSON.parse(resumed.stdout)
        assert.strictEqual(accepted.workflowId, workflowId)
        assert.strictEqual(accepted.status, "accepted")
        assert.strictEqual((yield* finished(base, accepted.id)).status, "completed")
        const shown = yield* agentos(["workflows", "show", workflowId, "--url", base])
        assert.deepStrictEqual(row(shown.stdout, "status"), ["status", "completed"])
      }).pipe(quiet),
    120_000
  )

  it.effect(
    "tasks cancel of a queued task: it never runs; the table says so and the JSON is the answer",
    () =>
      Effect.gen(function*() {
        const { base } = yield* Healthy
        // At most 2 tasks of one agent run at once: the fifth waits until three have run (4 model calls each).
        const ids: Array<string> = []
        for (const topic of ["one", "two", "three", "four", "five"]) {
          ids.push((yield* client(base).request("POST", "/workflows", { body: { topic, agent: "lead" } })).body.id)
        }
        const queued = ids[4]!
        const cancelled = yield* agentos(["tasks", "cancel", queued, "--url", base, "--json"])
        expectCode(cancelled, ExitCode.Ok)
        const answer = JSON.parse(cancelled.stdout)
        assert.deepStrictEqual([answer.outcome, answer.task.id, answer.task.status], ["cancelled", queued, "cancelled"])
        const again = yield* agentos(["tasks", "cancel", queued, "--url", base])
        expectCode(again, ExitCode.Refused)
        assert.strictEqual(again.stderr, `agentos: task ${queued} is already cancelled; nothing to cancel`)
        for (const id of ids.slice(0, 4)) assert.strictEqual((yield* finished(base, id)).status, "completed")
        // It never ran: no workflow was created for it.
        expectCode(yield* agentos(["workflows", "show", queued, "--url", base]), ExitCode.NotFound)
        const shown = yield* agentos(["tasks", "show", queued, "--url", base])
        assert.deepStrictEqual(row(shown.stdout, "status"), ["status", "cancelled"])
      }).pipe(quiet),
    120_000
  )

  it.effect("workflows list pages: --limit, and the cursor it prints leads to the next page", () =>
    Effect.gen(function*() {
      const { base } = yield* Healthy
      const all = JSON.parse((yield* agentos(["workflows", "list", "--url", base, "--json"])).stdout).items
      assert.isAtLeast(all.length, 3)
      const seen: Array<string> = []
      let cursor: Array<string> = []
      for (let page = 0; page < all.length + 1; page++) {
        const listed = yield* agentos(["workflows", "list", "--limit", "2", "--url", base, ...cursor])
        expectCode(listed, ExitCode.Ok)
        const lines = listed.stdout.split("\n")
        const next = lines.find((l) => l.startsWith("next page: --cursor "))
        for (const line of lines.slice(2)) {
          if (!line.startsWith("next page")) seen.push(line.split(/\s{2,}/)[0]!)
        }
        if (next === undefined) break
        cursor = ["--cursor", next.slice("next page: --cursor ".length)]
      }
      assert.deepStrictEqual(seen, all.map((w: any) => w.id))
    }))

  it.effect("workflows list --order: asc oldest first, desc newest first, in the table, JSON and pages", () =>
    Effect.gen(function*() {
      const { base } = yield* Healthy
      const ids = (args: ReadonlyArray<string>) =>
        Effect.map(agentos(["workflows", "list", "--url", base, "--json", ...args]), (r) => {
          expectCode(r, ExitCode.Ok)
          return JSON.parse(r.stdout).items.map((w: any) => w.id) as Array<string>
        })
      const asc = yield* ids(["--order", "asc"])
      assert.isAtLeast(asc.length, 3)
      assert.deepStrictEqual(asc, [...asc].sort())
      assert.deepStrictEqual(yield* ids([]), asc)
      const desc = yield* ids(["--order", "desc"])
      assert.deepStrictEqual(desc, [...asc].reverse())
      // The table lists them in the same order.
      const table = yield* agentos(["workflows", "list", "--order", "desc", "--url", base])
      expectCode(table, ExitCode.Ok)
      assert.deepStrictEqual(table.stdout.split("\n").slice(2).map((l) => l.split(/\s{2,}/)[0]), desc)
      // A page's cursor, passed back with the same order, continues it.
      const first = yield* agentos(["workflows", "list", "--order", "desc", "--limit", "2", "--url", base])
      const next = first.stdout.split("\n").find((l) => l.startsWith("next page: --cursor "))!
      assert.isDefined(next, first.stdout)
      const rest = yield* ids(["--order", "desc", "--cursor", next.slice("next page: --cursor ".length)])
      assert.deepStrictEqual(rest, desc.slice(2))
      const bad = yield* agentos(["workflows", "list", "--order", "newest", "--url", base])
      expectCode(bad, ExitCode.Usage)
    }))

  it.effect("budget: the team's figures and a row per agent; JSON is the dashboard", () =>
    Effect.gen(function*() {
      const { base } = yield* Healthy
      const shown = yield* agentos(["budget", "--url", base])
      expectCode(shown, ExitCode.Ok)
      const json = JSON.parse((yield* agentos(["budget", "--url", base, "--json"])).stdout)
      assert.deepStrictEqual(row(shown.stdout, "team"), ["team", json.team])
      assert.deepStrictEqual(row(shown.stdout, "total"), ["total", json.total.toLocaleString("en-US")])
      assert.deepStrictEqual(json.agents.map((a: any) => a.id), ["lead", "analyst"])
      const analyst = json.agents.find((a: any) => a.id === "analyst")
      assert.isAbove(analyst.used, 0)
      assert.deepStrictEqual(row(shown.stdout, "analyst").slice(0, 4), [
        "analyst",
        String(analyst.weight),
        analyst.allocated.toLocaleString("en-US"),
        analyst.used.toLocaleString("en-US")
      ])
    }))

  it.effect("route: the chosen model; --explain adds every rejected model and why; JSON is the explanation", () =>
    Effect.gen(function*() {
      const { base } = yield* Healthy
      const args = ["route", "--prompt", "Summarise this paragraph.", "--output-tokens", "100", "--url", base]
      const json = JSON.parse((yield* agentos([...args, "--json"])).stdout)
      assert.isString(json.chosen)
      const plain = yield* agentos(args)
      expectCode(plain, ExitCode.Ok)
      assert.strictEqual(row(plain.stdout, "model")[1], `${json.chosen} (${json.decision.model.provider})`)
      assert.notInclude(plain.stdout, "WHY NOT")
      const explained = yield* agentos([...args, "--explain"])
      expectCode(explained, ExitCode.Ok)
      const rejected = json.decision.rejected[0]
      assert.strictEqual(row(explained.stdout, rejected.model)[1], rejected.reasons.join(", "))

      const none = yield* agentos([
        "route",
        "--input-tokens",
        "10",
        "--max-latency-ms",
        "1",
        "--explain",
        "--url",
        base
      ])
      expectCode(none, ExitCode.Ok)
      assert.match(none.stdout, /^no eligible model/)
      assert.include(row(none.stdout, json.chosen)[1], "too-slow")
    }))

  it.effect("memory recall: the recalled memories; --explain adds each score's terms; JSON is the recall", () =>
    Effect.gen(function*() {
      const { base } = yield* Healthy
      const args = ["memory", "recall", "--query", "agent runtimes", "--agent", "analyst", "--url", base]
      const json = JSON.parse((yield* agentos([...args, "--json"])).stdout)
      assert.isAbove(json.memories.length, 0)
      const plain = yield* agentos(args)
      expectCode(plain, ExitCode.Ok)
      const lines = plain.stdout.split("\n")
      assert.strictEqual(lines.length, 2 + json.memories.length)
      assert.deepStrictEqual(row(plain.stdout, "SCORE"), ["SCORE", "SOURCE", "TYPE", "AGENT", "TEXT"])
      assert.strictEqual(lines[2]!.split(/\s{2,}/)[0], json.memories[0].score.toFixed(3))
      const explained = yield* agentos([...args, "--explain"])
      expectCode(explained, ExitCode.Ok)
      const header = row(explained.stdout, "SCORE")
      assert.includeMembers([...header], ["IMPORTANCE", "DECAY", "RECENCY", "FREQUENCY", "RELEVANCE"])
      const first = explained.stdout.split("\n")[2]!.split(/\s{2,}/)
      assert.strictEqual(
        first[header.indexOf("IMPORTANCE")],
        json.memories[0].explanation.importance.contribution.toFixed(3)
      )
      assert.include(explained.stdout, "below the cut")
    }))

  it.effect("an unknown id: the service's message and exit 2, as text or JSON", () =>
    Effect.gen(function*() {
      const { base } = yield* Healthy
      const cases: ReadonlyArray<[ReadonlyArray<string>, string]> = [
        [["workflows", "show", "nope"], "no workflow nope"],
        [["workflows", "cancel", "nope"], "no workflow nope"],
        [["workflows", "resume", "nope"], "no workflow nope"],
        [["tasks", "show", "nope"], "no task nope"],
        [["tasks", "cancel", "nope"], "no task nope"],
        [["dlq", "show", "nope"], "no letter nope"],
        [["dlq", "replay", "nope"], "no letter nope"],
        [["dlq", "resolve", "nope", "--note", "x"], "no letter nope"]
      ]
      for (const [args, message] of cases) {
        const result = yield* agentos([...args, "--url", base])
        expectCode(result, ExitCode.NotFound)
        assert.strictEqual(result.stderr, `agentos: ${message}`)
        assert.strictEqual(result.stdout, "")
      }
      const json = yield* agentos(["tasks", "show", "nope", "--url", base, "--json"])
      expectCode(json, ExitCode.NotFound)
      assert.deepStrictEqual(JSON.parse(json.stderr).error, {
        exitCode: 2,
        message: "no task nope",
        body: { _tag: "NotFound", kind: "task", id: "nope", message: "no task nope" }
      })
    }))

  it.effect("a usage error: exit 1, nothing sent", () =>
    Effect.gen(function*() {
      const { base } = yield* Healthy
      for (
        const args of [
          ["frobnicate"],
          ["dlq"],
          ["dlq", "resolve", "some-letter"],
          ["workflows", "list", "--limit", "0"],
          ["workflows", "list", "--status", "sleeping"],
          ["route", "--output-tokens", "-1"],
          ["tasks", "show"]
        ]
      ) {
        const result = yield* agentos([...args, "--url", base])
        expectCode(result, ExitCode.Usage)
        assert.notStrictEqual(result.stderr, "", `no message for ${args.join(" ")}`)
      }
      // The service refuses what the CLI cannot check: a prompt too large for its body limit.
      const refused = yield* agentos(["route", "--prompt", "x".repeat(5_000), "--url", base])
      expectCode(refused, ExitCode.Usage)
      const help = yield* agentos(["dlq", "--help"])
      expectCode(help, ExitCode.Ok)
      assert.include(help.stdout, "replay")
    }))

  it.effect("the URL comes from AGENTOS_URL when --url is not given, and --url wins over it", () =>
    Effect.gen(function*() {
      const { base, taskId } = yield* Healthy
      const port = yield* freePort
      const fromEnv = yield* agentos(["tasks", "show", taskId], { AGENTOS_URL: base })
      expectCode(fromEnv, ExitCode.Ok)
      const flagWins = yield* agentos(["tasks", "show", taskId, "--url", base], {
        AGENTOS_URL: `http://127.0.0.1:${port}`
      })
      expectCode(flagWins, ExitCode.Ok)
    }))

  it.effect(
    "the bin, as a child process: the table on stdout and the exit code of an unreachable service",
    () =>
      Effect.gen(function*() {
        const { base, taskId } = yield* Healthy
        const port = yield* freePort
        const bin = Path.join(__dirname, "..", "src", "cli", "bin.mjs")
        // Asynchronous: the service answers from this very process.
        const spawn = (args: ReadonlyArray<string>) =>
          Effect.async<{ readonly status: number | null; readonly stdout: string; readonly stderr: string }>(
            (resume) => {
              const env: Record<string, string | undefined> = { ...process.env, AGENTOS_URL: base }
              delete env.AGENTOS_API_TOKEN
              ChildProcess.execFile(
                process.execPath,
                [bin, ...args],
                { encoding: "utf8", env },
                (error, stdout, stderr) =>
                  resume(Effect.succeed({ status: error === null ? 0 : (error.code as number | null), stdout, stderr }))
              )
            }
          )
        const ok = yield* spawn(["tasks", "show", taskId])
        assert.strictEqual(ok.status, ExitCode.Ok, ok.stderr)
        assert.deepStrictEqual(row(ok.stdout.trimEnd(), "status"), ["status", "completed"])
        const down = yield* spawn(["workflows", "list", "--url", `http://127.0.0.1:${port}`])
        assert.strictEqual(down.status, ExitCode.Unavailable, down.stderr)
        assert.include(down.stderr, `cannot reach the service at http://127.0.0.1:${port}`)
      }),
    120_000
  )
})

// ---------------------------------------------------------------- unreachable

describe("agentos against no service", () => {
  it.live("every command: a clear message and exit 3", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const url = `http://127.0.0.1:${port}`
      for (
        const args of [
          ["dlq", "list"],
          ["workflows", "show", "x"],
          ["tasks", "cancel", "x"],
          ["budget"],
          ["route"],
          ["memory", "recall"]
        ]
      ) {
        const result = yield* agentos([...args, "--url", url])
        expectCode(result, ExitCode.Unavailable)
        assert.strictEqual(
          result.stderr.split("\n")[0]!.split(":").slice(0, 4).join(":"),
          `agentos: cannot reach the service at ${url}`
        )
      }
      const json = yield* agentos(["budget", "--json"], { AGENTOS_URL: url })
      expectCode(json, ExitCode.Unavailable)
      assert.strictEqual(JSON.parse(json.stderr).error.exitCode, ExitCode.Unavailable)
    }))

  it.live("a URL that is not one: exit 1", () =>
    Effect.gen(function*() {
      const result = yield* agentos(["budget", "--url", "not a url"])
      expectCode(result, ExitCode.Usage)
      assert.include(result.stderr, "not a valid service URL")
    }))
})

// ---------------------------------------------------------------- dead letters, behind a token

class Failing extends Context.Tag("test/Failing")<Failing, {
  readonly base: string
  readonly workflowId: string
  readonly letterId: string
}>() {}

const TOKEN = "s3cret-token"

// Every model call fails: each workflow becomes a dead letter. Every route needs the token.
const failing = Layer.scoped(
  Failing,
  Effect.gen(function*() {
    const dir = yield* tempDir
    const { base } = yield* start(
      config({ simFailureRate: 1, ...withToken(TOKEN) }),
      SqliteClient.layer({ filename: Path.join(dir, "agentos.db") })
    )
    const http = client(base, TOKEN)
    const started = (yield* http.request("POST", "/workflows", { body: { topic: "outage" } })).body
    const workflowId: string = started.workflowId
    assert.strictEqual((yield* finished(base, started.id, TOKEN)).status, "failed")
    const letters = (yield* http.request("GET", "/dead-letters")).body.letters
    return { base, workflowId, letterId: letters[0].id as string }
  }).pipe(quiet)
)

layer(failing, { timeout: 120_000, excludeTestServices: true })("agentos: dead letters, behind a token", (it) => {
  it.effect("without the token, or with a wrong one: exit 4 and what to do", () =>
    Effect.gen(function*() {
      const { base } = yield* Failing
      const missing = yield* agentos(["dlq", "list", "--url", base])
      expectCode(missing, ExitCode.Unauthorized)
      assert.strictEqual(
        missing.stderr,
        `agentos: ${base} requires a token: pass --token or set AGENTOS_API_TOKEN`
      )
      const wrong = yield* agentos(["dlq", "list", "--url", base, "--token", "wrong"])
      expectCode(wrong, ExitCode.Unauthorized)
      assert.include(wrong.stderr, "refused the token")
      const fromEnv = yield* agentos(["dlq", "list"], { AGENTOS_URL: base, AGENTOS_API_TOKEN: TOKEN })
      expectCode(fromEnv, ExitCode.Ok)
    }))

  it.effect("dlq list and show: a row per letter, its fields; JSON is the page and the letter", () =>
    Effect.gen(function*() {
      const { base, letterId, workflowId } = yield* Failing
      const auth = ["--url", base, "--token", TOKEN]
      const listed = yield* agentos(["dlq", "list", "--status", "open", ...auth])
      expectCode(listed, ExitCode.Ok)
      assert.deepStrictEqual(row(listed.stdout, letterId).slice(0, 6), [
        letterId,
        "open",
        "research",
        workflowId,
        "gather-requirements",
        "ModelUnavailable"
      ])
      const page = JSON.parse((yield* agentos(["dlq", "list", "--json", ...auth])).stdout)
      assert.deepStrictEqual(page.letters.map((l: any) => l.id), [letterId])
      // --order reaches the route (its ordering: the service's tests); a value it does not know is a usage error.
      const oldest = JSON.parse((yield* agentos(["dlq", "list", "--order", "asc", "--json", ...auth])).stdout)
      assert.deepStrictEqual(oldest.letters.map((l: any) => l.id), [letterId])
      expectCode(yield* agentos(["dlq", "list", "--order", "oldest", ...auth]), ExitCode.Usage)
      const shown = yield* agentos(["dlq", "show", letterId, ...auth])
      expectCode(shown, ExitCode.Ok)
      assert.deepStrictEqual(row(shown.stdout, "workflow"), ["workflow", workflowId])
      assert.deepStrictEqual(row(shown.stdout, "state"), ["state", "open"])
      const letter = JSON.parse((yield* agentos(["dlq", "show", letterId, "--json", ...auth])).stdout)
      assert.strictEqual(letter.id, letterId)
      assert.strictEqual(letter.error.tag, "ModelUnavailable")
    }))

  it.effect(
    "dlq replay that fails again: exit 5; resolve; a second resolve is refused; purge removes it",
    () =>
      Effect.gen(function*() {
        const { base, letterId } = yield* Failing
        const auth = ["--url", base, "--token", TOKEN]
        const replayed = yield* agentos(["dlq", "replay", letterId, "--json", ...auth])
        expectCode(replayed, ExitCode.Refused)
        const outcome = JSON.parse(replayed.stdout)
        assert.strictEqual(outcome._tag, "Failed")
        assert.strictEqual(outcome.letter.replays, 1)
        assert.include(replayed.stderr, "failed again")

        const resolved = yield* agentos(["dlq", "resolve", letterId, "--note", "provider outage, handled", ...auth])
        expectCode(resolved, ExitCode.Ok)
        assert.strictEqual(resolved.stdout, `resolved letter ${letterId}: provider outage, handled`)
        const again = yield* agentos(["dlq", "resolve", letterId, "--note", "twice", ...auth])
        expectCode(again, ExitCode.Refused)
        assert.strictEqual(again.stderr, "agentos: already resolved")
        const replayResolved = yield* agentos(["dlq", "replay", letterId, ...auth])
        expectCode(replayResolved, ExitCode.Refused)

        // The failed replay's run of the workflow is a letter of its own; this one is no longer open.
        const open = yield* agentos(["dlq", "list", "--status", "open", ...auth])
        expectCode(open, ExitCode.Ok)
        assert.notInclude(open.stdout, letterId)
        const resolvedList = yield* agentos(["dlq", "list", "--status", "resolved", ...auth])
        assert.strictEqual(row(resolvedList.stdout, letterId)[1], "resolved (manual)")

        const purged = yield* agentos(["dlq", "purge", "--resolved-older-than-hours", "0", "--json", ...auth])
        expectCode(purged, ExitCode.Ok)
        assert.deepStrictEqual(JSON.parse(purged.stdout), { removed: 1 })
        const nothing = yield* agentos(["dlq", "purge", "--resolved-older-than-hours", "0", ...auth])
        expectCode(nothing, ExitCode.Ok)
        assert.strictEqual(nothing.stdout, "removed 0 letter(s)")
        expectCode(yield* agentos(["dlq", "show", letterId, ...auth]), ExitCode.NotFound)
      }).pipe(quiet),
    120_000
  )
})
