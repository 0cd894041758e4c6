// Real processes on one Postgres queue: runner processes (test/processes/
// runner.ts, started with tsx) and this test's own supervisor, which submits
// and, having no workers, only polls and reclaims. One runner is SIGKILLed
// in the middle of a task; a poison task kills every runner that starts it.
import { Backends } from "@agentos/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as Supervisor from "../src/Supervisor.js"
import * as Task from "../src/Task.js"
import * as TaskQueue from "../src/TaskQueue.js"
import { flaky, job, poison, sharedOptions } from "./processes/tasks.js"

const packageDir = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const runnerPath = Path.join(packageDir, "test", "processes", "runner.ts")

interface Runner {
  readonly pid: number
  readonly exited: () => boolean
}

interface World {
  readonly supervisor: Supervisor.SupervisorService
  readonly queue: TaskQueue.TaskQueueService
  readonly spawn: (env?: Record<string, string>) => Effect.Effect<Runner, never, Scope.Scope>
  readonly kill: (runner: Runner) => void
  readonly markers: () => ReadonlyArray<ReadonlyArray<string>>
}

const world: Effect.Effect<World, unknown, Scope.Scope> = Effect.gen(function*() {
  const context = yield* Layer.build(Backends.postgres())
  const database = Context.get(context, Backends.TestDatabase)
  const url = new URL(database.url!)
  url.searchParams.set("options", `-c search_path=${database.schema!}`)
  const dir = yield* Backends.tempDirectory("agentos-supervisor-processes")
  const markersFile = Path.join(dir, "markers.log")
  const built = yield* Layer.build(
    Layer.merge(
      Supervisor.layerSql({ types: [job, poison, flaky], shared: sharedOptions }),
      TaskQueue.layerSql()
    ).pipe(Layer.provide(Layer.succeedContext(context)))
  )
  const children = new Map<number, ChildProcess.ChildProcess>()
  const spawn = (env: Record<string, string> = {}) =>
    Effect.acquireRelease(
      Effect.sync((): Runner => {
        const child = ChildProcess.spawn(
          process.execPath,
          ["--import", "tsx", "--conditions=@agentos/source", runnerPath],
          {
            cwd: packageDir,
            env: { ...process.env, ...env, DATABASE: url.toString(), MARKERS: markersFile },
            stdio: ["ignore", "ignore", "pipe"]
          }
        )
        let stderr = ""
        child.stderr!.on("data", (chunk) => (stderr += String(chunk)))
        child.on("exit", (code, signal) => {
          if (signal === null && code !== 0) process.stderr.write(`runner ${child.pid} failed:\n${stderr}\n`)
        })
        children.set(child.pid!, child)
        return { pid: child.pid!, exited: () => child.exitCode !== null || child.signalCode !== null }
      }),
      (runner) => Effect.sync(() => kill(runner))
    )
  const kill = (runner: Runner) => {
    const child = children.get(runner.pid)
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  }
  const markers = () =>
    Fs.existsSync(markersFile)
      ? Fs.readFileSync(markersFile, "utf8").trim().split("\n").filter((line) => line !== "").map((line) =>
        line.split(" ")
      )
      : []
  return {
    supervisor: Context.get(built, Supervisor.Supervisor),
    queue: Context.get(built, TaskQueue.TaskQueue),
    spawn,
    kill,
    markers
  }
})

const waitUntil = <R>(condition: Effect.Effect<boolean, unknown, R>, what: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 3_600; i++) {
      if (yield* condition) return
      yield* Effect.sleep("50 millis")
    }
    return yield* Effect.die(new Error(`timed out waiting for ${what}`))
  })

const stored = (queue: TaskQueue.TaskQueueService, id: string) => Effect.map(queue.status(id), Option.getOrThrow)

describe.skipIf(Backends.skipPostgres())("supervisor processes on one Postgres queue", () => {
  it.live(
    "a runner killed with SIGKILL mid-task: every task completes, its result recorded once",
    () =>
      Effect.gen(function*() {
        const { kill, markers, queue, spawn, supervisor } = yield* world
        const first = yield* spawn({ HANG: "1" })
        const hung = yield* supervisor.submit({ type: job, payload: { n: 100, hang: true } })
        yield* waitUntil(
          Effect.sync(() =>
            markers().some(([event, id, pid]) => event === "start" && id === hung.id && pid === `${first.pid}`)
          ),
          "the first runner to start the hanging task"
        )
        const second = yield* spawn()
        const handles = [hung]
        for (let n = 0; n < 20; n++) handles.push(yield* supervisor.submit({ type: job, payload: { n, hang: false } }))
        kill(first)
        const results = yield* Effect.forEach(handles, (handle) => handle.await)
        assert.deepStrictEqual(results, [200, ...Array.from({ length: 20 }, (_, n) => n * 2)])
        for (const [i, handle] of handles.entries()) {
          const task = yield* stored(queue, handle.id)
          assert.strictEqual(task.status, "completed")
          assert.deepStrictEqual(task.outcome, { status: "completed", result: i === 0 ? 200 : (i - 1) * 2 })
          assert.strictEqual(task.failures, 0)
        }
        const again = yield* stored(queue, hung.id)
        assert.deepStrictEqual([again.deliveries, again.lostDeliveries], [2, 1])
        const starts = markers().filter(([event, id]) => event === "start" && id === hung.id).map(([, , pid]) => pid)
        assert.deepStrictEqual(starts, [`${first.pid}`, `${second.pid}`])
      }).pipe(Effect.scoped),
    240_000
  )

  it.live(
    "a poison task is dead-lettered after maxDeliveries; a failing task gets its policy's attempts",
    () =>
      Effect.gen(function*() {
        const { markers, queue, spawn, supervisor } = yield* world
        let runner = yield* spawn()
        const pids = [runner.pid]
        const handle = yield* supervisor.submit({ type: poison, payload: {} })
        // Every runner that starts it dies: a new one is started in its place.
        yield* waitUntil(
          Effect.gen(function*() {
            if (runner.exited()) {
              runner = yield* spawn()
              pids.push(runner.pid)
            }
            return Task.isTerminal((yield* stored(queue, handle.id)).status)
          }),
          "the poison task to end"
        )
        const error = yield* Effect.flip(handle.await)
        assert.strictEqual(error._tag, "TaskPoisoned")
        assert.isTrue(error._tag === "TaskPoisoned" && error.letterId !== undefined)
        const task = yield* stored(queue, handle.id)
        assert.deepStrictEqual([task.status, task.lostDeliveries, task.failures, task.deliveries], [
          "dead-lettered",
          sharedOptions.maxDeliveries,
          0,
          sharedOptions.maxDeliveries + 1
        ])
        const starts = markers().filter(([event, id]) => event === "start" && id === handle.id)
        assert.strictEqual(starts.length, sharedOptions.maxDeliveries)
        assert.deepStrictEqual(starts.map(([, , pid]) => pid), pids.slice(0, starts.length).map(String))
        assert.isTrue(markers().some(([event, id]) => event === "letter" && id === handle.id))

        // Ordinary failures: retried by the policy (3 attempts), past maxDeliveries (2).
        const failing = yield* supervisor.submit({
          type: flaky,
          payload: {},
          retry: { maxAttempts: 3, backoffMillis: 10 }
        })
        const failed = yield* Effect.flip(failing.await)
        assert.strictEqual(failed._tag, "TaskDeadLettered")
        if (failed._tag === "TaskDeadLettered") assert.strictEqual(failed.attempts, 3)
        const record = yield* stored(queue, failing.id)
        assert.deepStrictEqual([record.status, record.failures, record.lostDeliveries], ["dead-lettered", 3, 0])
        assert.strictEqual(markers().filter(([event, id]) => event === "start" && id === failing.id).length, 3)
        assert.isTrue(
          markers().some(([event, id, attempts]) => event === "letter" && id === failing.id && attempts === "3")
        )
      }).pipe(Effect.scoped),
    240_000
  )
})
