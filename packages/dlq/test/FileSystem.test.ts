import * as AtomicFile from "@agentos/core/AtomicFile"
import { Backends } from "@agentos/testkit"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as TestClock from "effect/TestClock"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as DeadLetterQueue from "../src/DeadLetterQueue.js"
import { input } from "../src/Testing.js"

const open = (directory: string, fs: Layer.Layer<FileSystem.FileSystem> = NodeFileSystem.layer) =>
  Layer.build(Layer.provide(DeadLetterQueue.layerFileSystem({ directory }), fs)).pipe(
    Effect.map((context) => Context.get(context, DeadLetterQueue.DeadLetterQueue))
  )

const withQueue = <A, E>(
  directory: string,
  f: (dlq: DeadLetterQueue.DeadLetterQueueService) => Effect.Effect<A, E>,
  fs?: Layer.Layer<FileSystem.FileSystem>
) => Effect.scoped(Effect.flatMap(open(directory, fs), f))

const files = (dir: string) => (Fs.existsSync(dir) ? Fs.readdirSync(dir).sort() : [])

/** Runs a child process to its end and returns its pid (no longer alive). */
const deadPid = (): number => {
  const child = ChildProcess.spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"])
  return Number(child.stdout.toString())
}

describe("DeadLetterQueue.layerFileSystem", () => {
  it.scoped("letters survive a restart, one JSON file each, no temporary file left", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-dlq")
      const id = yield* withQueue(dir, (dlq) =>
        Effect.gen(function*() {
          const { letter } = yield* dlq.add(input())
          yield* dlq.resolve(letter.id, "fixed")
          return letter.id
        }))
      assert.deepStrictEqual(files(Path.join(dir, "letters")), [`${id}.json`])
      assert.isFalse(Fs.existsSync(Path.join(dir, "dlq.lock")), "the lock is released on close")
      const letter = yield* withQueue(dir, (dlq) => dlq.get(id))
      assert.strictEqual(letter.resolution?.note, "fixed")
      assert.deepStrictEqual(letter.payload, input().payload)
    }))

  it.scoped("a corrupt file, a half-written file and a leftover temporary file are reported and moved aside", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-dlq")
      const good = yield* withQueue(dir, (dlq) => Effect.map(dlq.add(input()), (added) => added.letter))
      const letters = Path.join(dir, "letters")
      const text = Fs.readFileSync(Path.join(letters, `${good.id}.json`), "utf8")
      Fs.writeFileSync(Path.join(letters, "corrupt.json"), "this is not json {")
      Fs.writeFileSync(Path.join(letters, "half.json"), text.slice(0, Math.floor(text.length / 2)))
      Fs.writeFileSync(Path.join(letters, "wrong-shape.json"), JSON.stringify({ id: "x", taskType: 3 }))
      Fs.writeFileSync(Path.join(letters, ".unfinished.json.0123456789ab.tmp"), text.slice(0, 10))
      // A temporary file of a 0.1 write.
      Fs.writeFileSync(Path.join(letters, ".tmp-older.json"), text.slice(0, 10))
      const logs: Array<string> = []
      const logger = Logger.make(({ message }) => {
        logs.push(String(Array.isArray(message) ? message.join(" ") : message))
      })
      const summary = yield* withQueue(dir, (dlq) =>
        Effect.gen(function*() {
          assert.deepStrictEqual((yield* dlq.get(good.id)).id, good.id)
          return yield* dlq.summary()
        })).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      assert.strictEqual(summary.total, 1)
      const found = summary.findings.map((f) => [Path.basename(f.file), f.kind] as const)
      assert.deepStrictEqual(found, [
        [".tmp-older.json", "incomplete-write"],
        [".unfinished.json.0123456789ab.tmp", "incomplete-write"],
        ["corrupt.json", "corrupt-file"],
        ["half.json", "corrupt-file"],
        ["wrong-shape.json", "corrupt-file"]
      ])
      assert.include(summary.findings[2]!.reason, "not JSON")
      assert.include(summary.findings[4]!.reason, "not a letter")
      for (const finding of summary.findings) assert.isTrue(Fs.existsSync(finding.movedTo))
      assert.deepStrictEqual(files(letters), [`${good.id}.json`])
      assert.strictEqual(files(Path.join(dir, "corrupt")).length, 5)
      assert.strictEqual(logs.filter((line) => line.includes("moved to")).length, 5)
      // Moved aside once: the next start is clean.
      const again = yield* withQueue(dir, (dlq) => dlq.summary())
      assert.deepStrictEqual(again.findings, [])
      assert.strictEqual(again.total, 1)
      // A second corrupt file of the same name (same clock time) never overwrites the first.
      Fs.writeFileSync(Path.join(letters, "corrupt.json"), "still not json")
      const third = yield* withQueue(dir, (dlq) => dlq.summary())
      assert.strictEqual(third.findings.length, 1)
      assert.deepStrictEqual(files(Path.join(dir, "corrupt")).filter((name) => name.startsWith("corrupt.json")), [
        "corrupt.json.0",
        "corrupt.json.0.1"
      ])
      assert.strictEqual(Fs.readFileSync(Path.join(dir, "corrupt", "corrupt.json.0"), "utf8"), "this is not json {")
    }))

  it.scoped("a list while a purge is part-way sees each letter either whole or gone", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-dlq")
      const firstGone = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      let removes = 0
      const slow = Layer.effect(
        FileSystem.FileSystem,
        Effect.map(FileSystem.FileSystem, (fs) => ({
          ...fs,
          remove: (path: string, options?: FileSystem.RemoveOptions) =>
            !path.endsWith(".json")
              ? fs.remove(path, options)
              : ++removes === 2
              ? Effect.zipRight(
                Deferred.succeed(firstGone, undefined),
                Effect.zipRight(Deferred.await(gate), fs.remove(path, options))
              )
              : fs.remove(path, options)
        }))
      ).pipe(Layer.provide(NodeFileSystem.layer))
      yield* withQueue(dir, (dlq) =>
        Effect.gen(function*() {
          for (const taskId of ["a", "b", "c"]) {
            const { letter } = yield* dlq.add(input({ taskId }))
            yield* dlq.resolve(letter.id, "done")
          }
          yield* TestClock.adjust("1 second")
          const purge = yield* Effect.fork(dlq.purge({ resolvedOlderThan: 0 }))
          yield* Deferred.await(firstGone)
          const page = yield* dlq.list()
          assert.deepStrictEqual(page.letters.map((l) => l.taskId as string), ["c", "b"])
          yield* Deferred.succeed(gate, undefined)
          assert.strictEqual(yield* Fiber.join(purge), 3)
          assert.deepStrictEqual((yield* dlq.list()).letters, [])
        }), slow)
    }))

  it.scoped("a letter is written to a temporary file, fsynced, renamed, then the directory is fsynced", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-dlq")
      const calls: Array<string> = []
      const rel = (path: string) => Path.relative(dir, path) || "."
      const recording = Layer.effect(
        FileSystem.FileSystem,
        Effect.map(FileSystem.FileSystem, (fs) => ({
          ...fs,
          open: (path: string, options?: FileSystem.OpenFileOptions) =>
            Effect.map(fs.open(path, options), (file) =>
              new Proxy(file, {
                get: (target, prop) => {
                  if (prop === "sync") return Effect.tap(target.sync, () => calls.push(`fsync ${rel(path)}`))
                  if (prop === "writeAll") {
                    return (buffer: Uint8Array) =>
                      Effect.tap(target.writeAll(buffer), () => calls.push(`write ${rel(path)}`))
                  }
                  return Reflect.get(target, prop, target)
                }
              })),
          rename: (from: string, to: string) =>
            Effect.tap(fs.rename(from, to), () => calls.push(`rename ${rel(from)} ${rel(to)}`))
        }))
      ).pipe(Layer.provide(NodeFileSystem.layer))
      const id = yield* withQueue(dir, (dlq) =>
        Effect.gen(function*() {
          calls.length = 0
          return (yield* dlq.add(input())).letter.id
        }), recording)
      // The temporary file is core's AtomicFile's: `.<name>.<random>.tmp` beside the letter.
      const temp = calls[0]!.slice("write letters/".length)
      assert.isTrue(AtomicFile.isTempFile(temp), temp)
      assert.isTrue(temp.startsWith(`.${id}.json.`), temp)
      assert.deepStrictEqual(calls, [
        `write letters/${temp}`,
        `fsync letters/${temp}`,
        `rename letters/${temp} letters/${id}.json`,
        "fsync letters"
      ])
    }))

  it.scoped("a crash between writing and renaming never leaves a torn letter", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-dlq")
      // A file system whose rename fails, as if the process died right there.
      const crashing = Layer.effect(
        FileSystem.FileSystem,
        Effect.map(FileSystem.FileSystem, (fs) => ({
          ...fs,
          rename: () => Effect.die("crash before rename")
        }))
      ).pipe(Layer.provide(NodeFileSystem.layer))
      const exit = yield* Effect.exit(withQueue(dir, (dlq) => dlq.add(input()), crashing))
      assert.isTrue(exit._tag === "Failure")
      const letters = Path.join(dir, "letters")
      assert.isTrue(
        files(letters).length > 0 && files(letters).every(AtomicFile.isTempFile),
        "only a temporary file exists"
      )
      Fs.rmSync(Path.join(dir, "dlq.lock"), { force: true }) // the crashed "process" left its lock behind
      const summary = yield* withQueue(dir, (dlq) => dlq.summary())
      assert.strictEqual(summary.total, 0)
      assert.deepStrictEqual(summary.findings.map((f) => f.kind), ["incomplete-write"])
    }))

  it.scoped("one holder per directory: a second layer gets DirectoryLocked with the pid", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-dlq")
      yield* open(dir)
      const second = yield* Effect.either(Effect.scoped(open(dir)))
      assert.isTrue(Either.isLeft(second))
      if (Either.isLeft(second)) {
        assert.strictEqual(second.left._tag, "DirectoryLocked")
        if (second.left._tag === "DirectoryLocked") {
          assert.strictEqual(second.left.pid, process.pid)
          assert.strictEqual(second.left.directory, dir)
          assert.include(second.left.message, dir)
        }
      }
    }))

  it.scoped("a lock held by another live process is respected", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-dlq")
      const child = yield* Effect.acquireRelease(
        Effect.sync(() => ChildProcess.spawn(process.execPath, ["-e", "setTimeout(() => {}, 20000)"])),
        (child) => Effect.sync(() => child.kill())
      )
      Fs.writeFileSync(Path.join(dir, "dlq.lock"), String(child.pid))
      const result = yield* Effect.either(Effect.scoped(open(dir)))
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result) && result.left._tag === "DirectoryLocked") {
        assert.strictEqual(result.left.pid, child.pid)
      } else assert.fail("expected DirectoryLocked")
    }))

  it.scoped("a stray file that is not a letter file is reported and moved aside, not ignored", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-dlq")
      yield* withQueue(dir, (dlq) => dlq.add(input()))
      Fs.writeFileSync(Path.join(dir, "letters", "notes.txt"), "hand-written")
      const summary = yield* withQueue(dir, (dlq) => dlq.summary())
      assert.strictEqual(summary.total, 1)
      assert.deepStrictEqual(summary.findings.map((f) => [Path.basename(f.file), f.kind]), [[
        "notes.txt",
        "corrupt-file"
      ]])
      assert.strictEqual(Fs.readFileSync(summary.findings[0]!.movedTo, "utf8"), "hand-written")
    }))

  it.scoped("a purge that fails part-way leaves the queue equal to the disk", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-dlq")
      let removes = 0
      const failing = Layer.effect(
        FileSystem.FileSystem,
        Effect.map(FileSystem.FileSystem, (fs) => ({
          ...fs,
          remove: (path: string, options?: FileSystem.RemoveOptions) =>
            path.endsWith(".json") && ++removes === 2
              ? Effect.fail(
                new PlatformError.SystemError({
                  reason: "PermissionDenied",
                  module: "FileSystem",
                  method: "remove",
                  pathOrDescriptor: path
                })
              )
              : fs.remove(path, options)
        }))
      ).pipe(Layer.provide(NodeFileSystem.layer))
      const ids = yield* withQueue(dir, (dlq) =>
        Effect.gen(function*() {
          const ids: Array<string> = []
          for (const taskId of ["a", "b", "c"]) {
            const { letter } = yield* dlq.add(input({ taskId }))
            yield* dlq.resolve(letter.id, "done")
            ids.push(letter.id)
          }
          yield* TestClock.adjust("1 second")
          const error = yield* Effect.flip(dlq.purge({ resolvedOlderThan: 0 }))
          assert.strictEqual(error._tag, "StoreError")
          const present = yield* Effect.forEach(ids, (id) => Effect.map(Effect.either(dlq.get(id)), Either.isRight))
          return { present, total: (yield* dlq.summary()).total }
        }), failing)
      const onDisk = files(Path.join(dir, "letters")).length
      assert.strictEqual(ids.total, onDisk, "the index shows what is on disk")
      assert.strictEqual(ids.present.filter(Boolean).length, onDisk)
      assert.strictEqual(onDisk, 2)
    }))

  it.scoped("a lock that cannot be taken for another reason than a live owner is a StoreError", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-dlq")
      const noLinks = Layer.effect(
        FileSystem.FileSystem,
        Effect.map(FileSystem.FileSystem, (fs) => ({
          ...fs,
          link: (from: string) =>
            Effect.fail(
              new PlatformError.SystemError({
                reason: "PermissionDenied",
                module: "FileSystem",
                method: "link",
                pathOrDescriptor: from
              })
            )
        }))
      ).pipe(Layer.provide(NodeFileSystem.layer))
      const error = yield* Effect.flip(Effect.scoped(open(dir, noLinks)))
      assert.strictEqual(error._tag, "StoreError")
      if (error._tag === "StoreError") {
        assert.strictEqual(error.operation, "lock")
        assert.include(error.message, Path.join(dir, "dlq.lock"))
      }
      yield* Effect.scoped(open(dir))
    }))

  it.scoped("a stale lock of a process that is no longer alive is taken over", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-dlq")
      Fs.mkdirSync(dir, { recursive: true })
      const pid = deadPid()
      Fs.writeFileSync(Path.join(dir, "dlq.lock"), String(pid))
      const logs: Array<string> = []
      const logger = Logger.make(({ message }) => {
        logs.push(String(Array.isArray(message) ? message.join(" ") : message))
      })
      yield* withQueue(dir, (dlq) =>
        Effect.sync(() => {
          assert.strictEqual(Fs.readFileSync(Path.join(dir, "dlq.lock"), "utf8"), String(process.pid))
          return dlq
        })).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      assert.isTrue(logs.some((line) => line.includes(`stale lock of process ${pid}`)))
      assert.deepStrictEqual(
        files(dir).filter((name) => name.startsWith("dlq.lock")),
        [],
        "no lock, marker or own file left"
      )
    }))

  it.effect("a directory that is not a non-empty path is InvalidOptions, nothing opened", () =>
    Effect.gen(function*() {
      for (const directory of ["", 42 as never]) {
        const error = yield* Effect.flip(Effect.scoped(open(directory)))
        assert.strictEqual(error._tag, "InvalidOptions", String(directory))
      }
    }))
})
