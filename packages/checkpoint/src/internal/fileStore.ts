import * as AtomicFile from "@agentos/core/AtomicFile"
import * as FileLock from "@agentos/core/FileLock"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Crypto from "node:crypto"
import * as Path from "node:path"
import { Checkpoint } from "../Checkpoint.js"
import type { CheckpointStoreService } from "../CheckpointStore.js"
import { type InvalidOptions, StoreError } from "../Errors.js"
import * as Leases from "./memoryLeases.js"
import * as Options from "./options.js"
import * as Paging from "./paging.js"

const SUFFIX = ".checkpoint.json"
const LOCK = ".lock"

/**
 * A file name for any workflow id: core's reversible name encoding when
 * short, a hash when long (a workflow id of 256 characters may encode past
 * a file name's 255 bytes).
 */
const fileName = (workflowId: string): string => {
  const encoded = AtomicFile.encodeName(workflowId)
  return encoded.length <= 180
    ? `wf-${encoded}${SUFFIX}`
    : `wh-${Crypto.createHash("sha256").update(workflowId).digest("hex")}${SUFFIX}`
}

const decode = Schema.decodeUnknown(Schema.parseJson(Checkpoint))
const encode = Schema.encodeSync(Checkpoint)

/** @internal */
export const make = (options: {
  readonly directory: string
}): Effect.Effect<CheckpointStoreService, StoreError | InvalidOptions, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const dir = Path.resolve(yield* Options.fileSystem(options))
    const fs = yield* FileSystem.FileSystem
    const fail = (operation: string) => (cause: unknown) => new StoreError({ operation, cause })

    yield* fs.makeDirectory(dir, { recursive: true }).pipe(Effect.mapError(fail("open")))
    // One process owns the directory: core's FileLock.
    yield* FileLock.acquire({ fileSystem: fs, directory: dir, fileName: LOCK }).pipe(
      Effect.mapError((error) =>
        new StoreError({
          operation: "open",
          cause: error._tag === "LockHeld"
            ? new Error(`the checkpoint directory ${dir} is locked by process ${error.pid} (${error.path})`)
            : error
        })
      )
    )

    // Holding the lock, any temporary file is what a write that did not
    // finish left (its checkpoint file is intact): remove them.
    const stray = (yield* fs.readDirectory(dir).pipe(Effect.mapError(fail("open")))).filter(AtomicFile.isTempFile)
    yield* Effect.forEach(stray, (name) => fs.remove(Path.join(dir, name)).pipe(Effect.mapError(fail("open"))), {
      discard: true
    })

    const leases = Leases.make()
    const mutex = yield* Effect.makeSemaphore(1)
    const locked = mutex.withPermits(1)

    const readFile = (path: string) =>
      fs.readFileString(path).pipe(
        Effect.mapError(fail("load")),
        Effect.flatMap((text) =>
          decode(text).pipe(
            Effect.mapError((error) =>
              new StoreError({
                operation: "load",
                cause: new Error(`the checkpoint file ${path} is corrupt: ${error.message}`, { cause: error })
              })
            )
          )
        )
      )

    const loadUnlocked = (workflowId: string) => {
      const path = Path.join(dir, fileName(workflowId))
      return fs.exists(path).pipe(
        Effect.mapError(fail("load")),
        Effect.flatMap((exists) => exists ? Effect.map(readFile(path), Option.some) : Effect.succeed(Option.none()))
      )
    }

    const writeAtomically = (workflowId: string, checkpoint: Checkpoint) =>
      AtomicFile.write(fs, Path.join(dir, fileName(workflowId)), JSON.stringify(encode(checkpoint))).pipe(
        Effect.mapError(fail("save"))
      )

    const readAll = Effect.gen(function*() {
      const names = yield* fs.readDirectory(dir).pipe(Effect.mapError(fail("list")))
      return yield* Effect.forEach(
        names.filter((name) => name.endsWith(SUFFIX)).sort(),
        (name) => readFile(Path.join(dir, name))
      )
    })

    const service: CheckpointStoreService = {
      acquire: (workflowId, holder, ttlMillis) =>
        locked(Effect.gen(function*() {
          const existing = yield* loadUnlocked(workflowId)
          const floor = Option.match(existing, { onNone: () => 0, onSome: (c) => c.epoch })
          return yield* leases.acquire(workflowId, holder, ttlMillis, floor)
        })),
      acquireAndCreate: (workflowId, holder, ttlMillis, initial) =>
        locked(Effect.gen(function*() {
          const existing = yield* loadUnlocked(workflowId)
          const floor = Option.match(existing, { onNone: () => 0, onSome: (c) => c.epoch })
          const lease = yield* leases.acquire(workflowId, holder, ttlMillis, floor)
          if (Option.isSome(existing)) return { lease, created: false, cancelRequested: false }
          // Under the directory lock, right after the grant: nothing comes between.
          yield* writeAtomically(workflowId, { ...initial, workflowId, epoch: lease.epoch })
          return { lease, created: true, cancelRequested: leases.cancelRequested(lease) }
        })),
      renew: leases.renew,
      release: leases.release,
      requestCancel: leases.requestCancel,
      load: (workflowId) => locked(loadUnlocked(workflowId)),
      save: (lease, checkpoint, options) =>
        locked(
          leases.save(
            lease,
            writeAtomically(lease.workflowId, { ...checkpoint, workflowId: lease.workflowId, epoch: lease.epoch }),
            options?.release === true
          )
        ),
      list: (query) =>
        Effect.flatMap(Paging.check(query), (q) => locked(Effect.map(readAll, (all) => Paging.page(all, q)))),
      prune: ({ statuses, updatedBefore }) =>
        locked(Effect.gen(function*() {
          const all = yield* readAll
          let removed = 0
          for (const c of all) {
            if (statuses.includes(c.status) && c.updatedAt < updatedBefore && !(yield* leases.isHeld(c.workflowId))) {
              yield* fs.remove(Path.join(dir, fileName(c.workflowId))).pipe(Effect.mapError(fail("prune")))
              removed++
            }
          }
          return removed
        }))
    }
    return service
  })
