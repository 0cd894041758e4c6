// The file-system backend: one JSON file per letter, written atomically by
// core's AtomicFile (temporary file → fsync → rename → fsync of the
// directory), the memory store in front as the index, and core's FileLock so
// that one process owns the directory.
import * as AtomicFile from "@agentos/core/AtomicFile"
import * as FileLock from "@agentos/core/FileLock"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { DirectoryLocked, StoreError } from "../Errors.js"
import { type Finding, Letter } from "../Letter.js"
import { makeMemoryStore } from "./memoryStore.js"
import type { Store } from "./store.js"

const LOCK_FILE = "dlq.lock"
/** The temporary files of the 0.1 writes, recognised at start like AtomicFile's. */
const OLD_TMP_PREFIX = ".tmp-"

const decodeLetter = Schema.decodeUnknownEither(Letter)
const encodeLetter = Schema.encodeSync(Letter)

const fileName = (id: string): string => AtomicFile.encodeName(id) + ".json"

const join = (...parts: ReadonlyArray<string>) => parts.join("/").replace(/\/+/g, "/")

const storeError = (operation: string) => (cause: unknown) => new StoreError({ operation, cause })

// The directory's lock file (one process owns the directory): core's
// FileLock, its errors mapped to this package's.
const acquireLock = (
  fs: FileSystem.FileSystem,
  directory: string
): Effect.Effect<void, DirectoryLocked | StoreError, Scope.Scope> =>
  FileLock.acquire({ fileSystem: fs, directory, fileName: LOCK_FILE }).pipe(
    Effect.mapError((error) =>
      error._tag === "LockHeld"
        ? new DirectoryLocked({ directory, pid: error.pid })
        : new StoreError({ operation: "lock", cause: error })
    )
  )

export const makeFileStore = (
  directory: string
): Effect.Effect<Store, DirectoryLocked | StoreError, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const lettersDir = join(directory, "letters")
    const corruptDir = join(directory, "corrupt")
    yield* Effect.mapError(
      Effect.zipRight(
        fs.makeDirectory(lettersDir, { recursive: true }),
        fs.makeDirectory(corruptDir, { recursive: true })
      ),
      storeError("open")
    )
    yield* acquireLock(fs, directory)

    const syncDirectory = (dir: string) => AtomicFile.syncDirectory(fs, dir)
    // The entries of letters/ and corrupt/ in their parent must be durable
    // before any letter written into them is reported stored.
    yield* Effect.mapError(syncDirectory(directory), storeError("open"))

    const writeAtomic = (name: string, text: string) => AtomicFile.write(fs, join(lettersDir, name), text)

    const moveAside = (name: string, kind: Finding["kind"], reason: string) =>
      Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        // Never overwrite an earlier finding of the same name.
        let movedTo = join(corruptDir, `${name}.${at}`)
        for (let n = 1; yield* fs.exists(movedTo); n++) movedTo = join(corruptDir, `${name}.${at}.${n}`)
        yield* fs.rename(join(lettersDir, name), movedTo)
        yield* syncDirectory(lettersDir)
        yield* syncDirectory(corruptDir)
        const finding: Finding = { kind, file: join(lettersDir, name), movedTo, reason, at }
        yield* Effect.logError(`dead letter store: ${kind} ${finding.file} moved to ${movedTo}: ${reason}`)
        return finding
      })

    const letters: Array<Letter> = []
    const findings: Array<Finding> = []
    const names = yield* Effect.mapError(fs.readDirectory(lettersDir), storeError("load"))
    for (const name of names.sort()) {
      if (AtomicFile.isTempFile(name) || name.startsWith(OLD_TMP_PREFIX)) {
        findings.push(
          yield* moveAside(name, "incomplete-write", "a temporary file left by a write that did not finish").pipe(
            Effect.mapError(storeError("load"))
          )
        )
        continue
      }
      if (!name.endsWith(".json")) {
        findings.push(
          yield* moveAside(name, "corrupt-file", "not a letter file (letter files end in .json)").pipe(
            Effect.mapError(storeError("load"))
          )
        )
        continue
      }
      const text = yield* Effect.mapError(fs.readFileString(join(lettersDir, name)), storeError("load"))
      let reason: string | undefined
      let parsed: unknown
      try {
        parsed = JSON.parse(text)
      } catch (error) {
        reason = `not JSON: ${(error as Error).message}`
      }
      if (reason === undefined) {
        const decoded = decodeLetter(parsed)
        if (decoded._tag === "Left") reason = `not a letter: ${decoded.left.message}`
        else if (fileName(decoded.right.id) !== name) {
          reason = `the file name does not match letter id "${decoded.right.id}"`
        } else letters.push(decoded.right)
      }
      if (reason !== undefined) {
        findings.push(yield* Effect.mapError(moveAside(name, "corrupt-file", reason), storeError("load")))
      }
    }

    return yield* makeMemoryStore(
      {
        write: (letter) =>
          Effect.mapError(writeAtomic(fileName(letter.id), JSON.stringify(encodeLetter(letter))), storeError("write")),
        remove: (letter) =>
          fs.remove(join(lettersDir, fileName(letter.id))).pipe(
            // Already gone (removed by hand): the purge is what was asked.
            Effect.catchIf((error) => error._tag === "SystemError" && error.reason === "NotFound", () => Effect.void),
            Effect.mapError(storeError("remove"))
          ),
        flush: Effect.mapError(syncDirectory(lettersDir), storeError("remove"))
      },
      letters,
      findings
    )
  })
