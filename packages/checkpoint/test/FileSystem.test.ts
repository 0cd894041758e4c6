// What only the file-system store has: the lock file, atomic writes, and
// corrupt files reported instead of skipped.
import type { WorkflowId } from "@agentos/core/Ids"
import { Backends } from "@agentos/testkit"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { type Checkpoint, CheckpointStore, layerFileSystem } from "../src/CheckpointStore.js"

const open = (directory: string) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(layerFileSystem({ directory }).pipe(Layer.provide(NodeFileSystem.layer)))
    return yield* Effect.provide(CheckpointStore, context)
  })

const checkpoint = (completedSteps: ReadonlyArray<string>): Checkpoint => ({
  workflowId: "wf" as WorkflowId,
  name: "demo",
  version: 1,
  status: "running",
  state: { steps: completedSteps.length },
  completedSteps,
  attempts: {},
  run: 1,
  createdAt: 0,
  updatedAt: 0,
  epoch: 0
})

const files = (dir: string) => Fs.readdirSync(dir).sort()

describe("CheckpointStore.layerFileSystem", () => {
  it.scoped("a lock file keeps a second store off the directory until the first closes", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-checkpoint-fs")
      const first = yield* Effect.scoped(Effect.gen(function*() {
        yield* open(dir)
        assert.strictEqual(Fs.readFileSync(Path.join(dir, ".lock"), "utf8"), String(process.pid))
        const second = yield* Effect.exit(Effect.scoped(open(dir)))
        assert.isTrue(Exit.isFailure(second))
        if (Exit.isFailure(second)) assert.include(String(second.cause), `locked by process ${process.pid}`)
        return "ok"
      }))
      assert.strictEqual(first, "ok")
      assert.isFalse(Fs.existsSync(Path.join(dir, ".lock")))
      yield* Effect.scoped(open(dir))
    }))

  it.scoped("a lock left by a dead process is taken over", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-checkpoint-fs")
      // A pid above the kernel's maximum (2^22) is never alive.
      Fs.writeFileSync(Path.join(dir, ".lock"), String(2 ** 22 + 17))
      yield* open(dir)
      assert.strictEqual(Fs.readFileSync(Path.join(dir, ".lock"), "utf8"), String(process.pid))
    }))

  it.scoped("a save replaces the file by rename and leaves no temporary file", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-checkpoint-fs")
      const store = yield* open(dir)
      const lease = yield* store.acquire("wf" as WorkflowId, "runner", 30_000)
      yield* store.save(lease, checkpoint(["a"]))
      yield* store.save(lease, checkpoint(["a", "b"]))
      assert.deepStrictEqual(files(dir), [".lock", "wf-wf.checkpoint.json"])
      const onDisk = JSON.parse(Fs.readFileSync(Path.join(dir, "wf-wf.checkpoint.json"), "utf8"))
      assert.deepStrictEqual(onDisk.completedSteps, ["a", "b"])
    }))

  it.scoped("a crash mid-write (a half-written temporary file) leaves the previous checkpoint intact", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-checkpoint-fs")
      yield* Effect.scoped(Effect.gen(function*() {
        const store = yield* open(dir)
        const lease = yield* store.acquire("wf" as WorkflowId, "runner", 30_000)
        yield* store.save(lease, checkpoint(["a"]))
      }))
      // What a process killed between write and rename leaves behind.
      Fs.writeFileSync(Path.join(dir, ".wf-wf.checkpoint.json.0a1b2c3d4e5f.tmp"), "{\"workflowId\":\"wf\",\"na")
      const store = yield* open(dir)
      const loaded = yield* store.load("wf" as WorkflowId)
      assert.deepStrictEqual(Option.map(loaded, (c) => c.completedSteps), Option.some(["a"]))
      // The stray temporary file was removed when the store opened.
      assert.deepStrictEqual(files(dir), [".lock", "wf-wf.checkpoint.json"])
      assert.deepStrictEqual((yield* store.list()).items.map((c) => c.workflowId), ["wf"])
      // A new grant's epoch continues after the one stored in the file.
      const lease = yield* store.acquire("wf" as WorkflowId, "runner-2", 30_000)
      assert.strictEqual(lease.epoch, 2)
    }))

  it.scoped("a corrupt checkpoint file is a StoreError naming it, never a silent restart", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-checkpoint-fs")
      Fs.writeFileSync(Path.join(dir, "wf-wf.checkpoint.json"), "{ not json")
      const store = yield* open(dir)
      const error = yield* Effect.flip(store.load("wf" as WorkflowId))
      assert.strictEqual(error._tag, "StoreError")
      assert.include(error.message, "wf-wf.checkpoint.json is corrupt")
      assert.strictEqual((yield* Effect.flip(store.list()))._tag, "StoreError")
      assert.strictEqual((yield* Effect.flip(store.acquire("wf" as WorkflowId, "runner", 1_000)))._tag, "StoreError")
    }))

  it.scoped("long workflow ids get a hashed file name", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-checkpoint-fs")
      const store = yield* open(dir)
      const id = "x/".repeat(120) as WorkflowId
      const lease = yield* store.acquire(id, "runner", 30_000)
      yield* store.save(lease, { ...checkpoint([]), workflowId: id })
      assert.isTrue(files(dir).some((name) => /^wh-[0-9a-f]{64}\.checkpoint\.json$/.test(name)))
      assert.strictEqual(Option.getOrThrow(yield* store.load(id)).workflowId, id)
    }))

  it.effect("an empty directory fails the layer with InvalidOptions, and creates nothing", () =>
    Effect.gen(function*() {
      for (const directory of ["", "   "]) {
        const error = yield* Effect.flip(
          Layer.build(layerFileSystem({ directory }).pipe(Layer.provide(NodeFileSystem.layer)))
        ).pipe(Effect.scoped)
        assert.strictEqual(error._tag, "InvalidOptions")
        assert.include(error.message, "directory")
      }
    }))

  it.scoped("the cause of a StoreError is the file system's error, kept whole", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-checkpoint-fs")
      const blocker = Path.join(dir, "a-file")
      Fs.writeFileSync(blocker, "")
      const error = yield* Effect.flip(open(Path.join(blocker, "below")))
      assert.strictEqual(error._tag, "StoreError")
      if (error._tag !== "StoreError") return
      assert.strictEqual(error.operation, "open")
      assert.strictEqual((error.cause as { readonly _tag?: string })._tag, "SystemError")
      assert.include(error.message, "checkpoint store: open failed")
    }))
})
