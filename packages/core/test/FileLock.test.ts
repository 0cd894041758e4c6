import { Backends } from "@agentos/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Readline from "node:readline"
import * as FileLock from "../src/FileLock.js"
import { nodeFiles } from "./fixtures/nodeFiles.js"

const FILE = "test.lock"
const packageDir = Path.resolve(import.meta.dirname, "..")
const holderScript = Path.join(import.meta.dirname, "fixtures", "lockHolder.ts")

const lock = (directory: string, fileSystem: FileLock.FileOperations = nodeFiles) =>
  FileLock.acquire({ fileSystem, directory, fileName: FILE })

const files = (dir: string) => Fs.readdirSync(dir).sort()

/** Runs a child process to its end and returns its pid (no longer alive). */
const deadPid = (): number => {
  const child = ChildProcess.spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"])
  return Number(child.stdout.toString())
}

/** A live process that does nothing (killed when the scope closes). */
const sleeper = Effect.acquireRelease(
  Effect.sync(() => ChildProcess.spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"])),
  (child) => Effect.sync(() => child.kill("SIGKILL"))
)

/** The marker a taker of `file` creates: named after its inode and modification time. */
const markerOf = (file: string) => {
  const info = Fs.statSync(file)
  return `${file}.takeover-${info.ino}-${info.mtime.getTime()}`
}

const capture = () => {
  const logs: Array<string> = []
  const logger = Logger.make(({ message }) => {
    logs.push(String(Array.isArray(message) ? message.join(" ") : message))
  })
  return { logs, layer: Logger.replace(Logger.defaultLogger, logger) }
}

/** A second OS process running FileLock (see fixtures/lockHolder.ts). */
const holder = (directory: string) =>
  Effect.gen(function*() {
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        ChildProcess.spawn(process.execPath, ["--import", "tsx", holderScript, directory], {
          cwd: packageDir,
          stdio: ["pipe", "pipe", "inherit"]
        })
      ),
      (child) => Effect.sync(() => child.kill("SIGKILL"))
    )
    const lines: Array<string> = []
    const waiting: Array<(line: string) => void> = []
    Readline.createInterface({ input: child.stdout }).on("line", (line) => {
      if (!line.startsWith("@@ ")) return
      const waiter = waiting.shift()
      if (waiter !== undefined) waiter(line.slice(3))
      else lines.push(line.slice(3))
    })
    const next = Effect.promise(() =>
      new Promise<string>((resolve) => {
        const line = lines.shift()
        if (line !== undefined) resolve(line)
        else waiting.push(resolve)
      })
    )
    assert.strictEqual(yield* next, "ready")
    const exited = Effect.async<void>((resume) => {
      if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
      child.once("exit", () => resume(Effect.void))
    })
    return {
      pid: child.pid!,
      send: (command: string) => Effect.zipRight(Effect.sync(() => child.stdin.write(`${command}\n`)), next),
      kill: Effect.zipRight(Effect.sync(() => child.kill("SIGKILL")), exited)
    }
  })

describe("FileLock", () => {
  it.scoped("the lock file names this process while held and is removed when the scope closes", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-lock")
      yield* Effect.scoped(Effect.gen(function*() {
        yield* lock(dir)
        assert.deepStrictEqual(files(dir), [FILE], "no own file or marker beside the lock")
        assert.strictEqual(Fs.readFileSync(Path.join(dir, FILE), "utf8"), String(process.pid))
      }))
      assert.deepStrictEqual(files(dir), [], "released on scope close")
      yield* Effect.scoped(lock(dir))
    }))

  it.scoped("a second holder in this process, under another spelling of the path, gets LockHeld", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-lock")
      Fs.mkdirSync(Path.join(dir, "sub"))
      yield* lock(dir)
      const other = Path.join(dir, "sub", "..")
      const error = yield* Effect.flip(Effect.scoped(lock(other)))
      assert.strictEqual(error._tag, "LockHeld")
      if (error._tag === "LockHeld") {
        assert.strictEqual(error.pid, process.pid)
        assert.strictEqual(error.directory, other)
        assert.strictEqual(error.path, `${other}/${FILE}`)
        assert.include(error.message, `locked by process ${process.pid}`)
      }
      assert.strictEqual(Fs.readFileSync(Path.join(dir, FILE), "utf8"), String(process.pid), "the lock is untouched")
    }))

  it.scoped("a real second process holds the lock: LockHeld names it; once it is killed, its lock is taken over", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-lock")
      const other = yield* holder(dir)
      assert.strictEqual(yield* other.send(`go ${Date.now()}`), "won")
      const error = yield* Effect.flip(Effect.scoped(lock(dir)))
      assert.deepStrictEqual(
        error._tag === "LockHeld" ? { directory: error.directory, path: error.path, pid: error.pid } : error,
        { directory: dir, path: `${dir}/${FILE}`, pid: other.pid }
      )
      yield* other.kill
      const { layer, logs } = capture()
      yield* lock(dir).pipe(Effect.provide(layer))
      assert.strictEqual(Fs.readFileSync(Path.join(dir, FILE), "utf8"), String(process.pid))
      assert.isTrue(logs.some((line) => line.includes(`stale lock of process ${other.pid}, which is no longer alive`)))
      assert.deepStrictEqual(files(dir), [FILE], "no marker or own file left")
    }))

  it.scoped("a stale lock of a dead pid, an unreadable lock and a lock naming a live pid", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-lock")
      const path = Path.join(dir, FILE)
      const pid = deadPid()
      Fs.writeFileSync(path, String(pid))
      yield* Effect.scoped(lock(dir))
      assert.deepStrictEqual(files(dir), [], "taken over, then released")
      Fs.writeFileSync(path, "")
      yield* Effect.scoped(lock(dir))
      assert.deepStrictEqual(files(dir), [])
      // A live process's pid (its own lock, or a pid reused since): respected.
      const live = yield* sleeper
      Fs.writeFileSync(path, String(live.pid))
      const error = yield* Effect.flip(Effect.scoped(lock(dir)))
      assert.isTrue(error._tag === "LockHeld" && error.pid === live.pid)
      assert.strictEqual(Fs.readFileSync(path, "utf8"), String(live.pid))
    }))

  it.scoped("a lock naming this process's pid that no holder here has (a restarted container) is taken over", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-lock")
      Fs.writeFileSync(Path.join(dir, FILE), String(process.pid))
      const { layer, logs } = capture()
      yield* lock(dir).pipe(Effect.provide(layer))
      assert.isTrue(logs.some((line) => line.includes(`earlier process with this process's pid ${process.pid}`)))
      const again = yield* Effect.flip(Effect.scoped(lock(dir)))
      assert.isTrue(again._tag === "LockHeld" && again.pid === process.pid, "now held here")
    }))

  it.scoped(
    "of several processes taking over a dead owner's lock at once, exactly one wins",
    () =>
      Effect.gen(function*() {
        const dir = yield* Backends.tempDirectory("agentos-lock")
        const holders = yield* Effect.all(Array.from({ length: 4 }, () => holder(dir)), { concurrency: "unbounded" })
        for (let round = 0; round < 6; round++) {
          Fs.writeFileSync(Path.join(dir, FILE), round % 3 === 2 ? "" : String(deadPid()))
          const start = Date.now() + 100
          const results = yield* Effect.forEach(holders, (h) => h.send(`go ${start}`), { concurrency: "unbounded" })
          const winners = holders.filter((_, i) => results[i] === "won")
          assert.strictEqual(winners.length, 1, `round ${round}: ${results.join(", ")}`)
          const winner = winners[0]!
          for (const [i, result] of results.entries()) {
            if (holders[i] !== winner) assert.strictEqual(result, `lost LockHeld ${winner.pid}`, `round ${round}`)
          }
          assert.strictEqual(Fs.readFileSync(Path.join(dir, FILE), "utf8"), String(winner.pid))
          yield* Effect.forEach(holders, (h) => h.send("release"), { concurrency: "unbounded" })
          assert.deepStrictEqual(files(dir), [], `round ${round}: released, no marker or own file left`)
        }
      }),
    60_000
  )

  it.scoped("a takeover never removes a lock another process took over meanwhile", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-lock")
      const path = Path.join(dir, FILE)
      Fs.writeFileSync(path, String(deadPid()))
      const other = yield* sleeper
      // Right after this process creates its takeover marker, another process
      // (which judged the same lock stale a moment earlier and has finished
      // its own takeover) replaces the lock with a fresh one naming itself.
      const racing: FileLock.FileOperations = {
        ...nodeFiles,
        link: (from, to) =>
          Effect.tap(nodeFiles.link(from, to), () =>
            Effect.sync(() => {
              if (to.includes(".takeover-")) {
                Fs.rmSync(path)
                Fs.writeFileSync(path, String(other.pid))
              }
            }))
      }
      const error = yield* Effect.flip(Effect.scoped(lock(dir, racing)))
      assert.isTrue(error._tag === "LockHeld" && error.pid === other.pid, "the new owner is named")
      assert.strictEqual(Fs.readFileSync(path, "utf8"), String(other.pid), "the fresh lock is untouched")
      assert.deepStrictEqual(files(dir), [FILE], "no marker or own file left")
    }))

  it.scoped("a live taker's marker is respected: LockHeld names the taker, the stale lock stays", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-lock")
      const path = Path.join(dir, FILE)
      Fs.writeFileSync(path, String(deadPid()))
      const taker = yield* sleeper
      Fs.writeFileSync(markerOf(path), String(taker.pid))
      const error = yield* Effect.flip(Effect.scoped(lock(dir)))
      assert.isTrue(error._tag === "LockHeld" && error.pid === taker.pid)
      assert.strictEqual(files(dir).length, 2, "the stale lock and the live taker's marker stay")
    }))

  it.scoped("a taker that died mid-takeover: its marker is taken over in turn; three nested dead takers are reported", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-lock")
      const path = Path.join(dir, FILE)
      // One dead taker, and a dead taker of its marker.
      Fs.writeFileSync(path, String(deadPid()))
      const first = markerOf(path)
      Fs.writeFileSync(first, String(deadPid()))
      Fs.writeFileSync(markerOf(first), String(deadPid()))
      const { layer, logs } = capture()
      yield* Effect.scoped(Effect.gen(function*() {
        yield* lock(dir)
        assert.strictEqual(Fs.readFileSync(path, "utf8"), String(process.pid))
        assert.deepStrictEqual(files(dir), [FILE], "the dead takers' markers are gone")
      })).pipe(Effect.provide(layer))
      assert.isTrue(logs.some((line) => line.includes("takeover marker of process")))
      // Three nested dead takers: nothing is guessed, the marker to remove is named.
      Fs.writeFileSync(path, String(deadPid()))
      let marker = path
      for (let level = 0; level < 3; level++) {
        marker = markerOf(marker)
        Fs.writeFileSync(marker, String(deadPid()))
      }
      const error = yield* Effect.flip(Effect.scoped(lock(dir)))
      assert.strictEqual(error._tag, "LockFailed")
      assert.include(error.message, `remove ${marker}`)
      assert.strictEqual(files(dir).length, 4, "the stale lock and the markers stay")
      Fs.rmSync(marker)
      yield* Effect.scoped(lock(dir))
      assert.deepStrictEqual(files(dir), [], "after the named marker is removed, the lock is taken over")
    }))

  it.scopedLive("a half-written lock is never observed: the lock appears with its whole pid", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-lock")
      const path = Path.join(dir, FILE)
      // A slow write: the first digit, a pause, then the rest.
      const slow: FileLock.FileOperations = {
        ...nodeFiles,
        writeFileString: (file, data) =>
          nodeFiles.writeFileString(file, data.slice(0, 1)).pipe(
            Effect.zipRight(Effect.sleep("40 millis")),
            Effect.zipRight(nodeFiles.writeFileString(file, data))
          )
      }
      const seen = new Set<string>()
      const watcher = yield* Effect.fork(Effect.forever(Effect.zipRight(
        Effect.sync(() => {
          try {
            seen.add(Fs.readFileSync(path, "utf8"))
          } catch {
            seen.add("(absent)")
          }
        }),
        Effect.sleep("1 millis")
      )))
      yield* Effect.scoped(lock(dir, slow))
      Fs.writeFileSync(path, String(deadPid()))
      const stale = Fs.readFileSync(path, "utf8")
      yield* Effect.scoped(lock(dir, slow))
      yield* Fiber.interrupt(watcher)
      seen.delete("(absent)")
      seen.delete(stale)
      assert.deepStrictEqual([...seen], [String(process.pid)], "only whole pids were ever read")
    }))

  it.scoped("a failing file operation is LockFailed naming the lock file, and leaves the directory free", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-lock")
      const broken: FileLock.FileOperations = {
        ...nodeFiles,
        link: () => Effect.fail({ _tag: "SystemError", reason: "PermissionDenied", message: "link: permission denied" })
      }
      const error = yield* Effect.flip(Effect.scoped(lock(dir, broken)))
      assert.strictEqual(error._tag, "LockFailed")
      assert.include(error.message, `${dir}/${FILE}`)
      assert.include(error.message, "permission denied")
      yield* Effect.scoped(lock(dir))
    }))
})
