// The file-system backend: one JSON file per letter, written atomically
// (temporary file → fsync → rename → fsync of the directory), an in-process
// index in front, and a lock file so that one process owns the directory.
import type { PlatformError } from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { DirectoryLocked, StoreError } from "../Errors.js"
import { type Finding, Letter } from "../Letter.js"
import { makeIndex, type Store } from "./store.js"

const LOCK_FILE = "dlq.lock"
const TMP_PREFIX = ".tmp-"

const decodeLetter = Schema.decodeUnknownEither(Letter)
const encodeLetter = Schema.encodeSync(Letter)

export const fileName = (id: string): string => encodeURIComponent(id).replace(/^\./, "%2E") + ".json"

const join = (...parts: ReadonlyArray<string>) => parts.join("/").replace(/\/+/g, "/")

const storeError = (operation: string) => (error: PlatformError) =>
  new StoreError({ operation, message: error.message })

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as { code?: string }).code === "EPERM"
  }
}

// The lock files this process holds or is acquiring (by real path). The
// reservation is taken synchronously before any file is touched, so two
// layers of this process never race for one directory; and a lock file that
// names this process's pid while this process holds no reservation for it
// was left by an earlier process with the same pid (a restarted container's
// pid 1, say): it is stale.
const heldHere = new Set<string>()
let lockCounter = 0

const isAlreadyExists = (error: PlatformError) => error._tag === "SystemError" && error.reason === "AlreadyExists"
const isNotFound = (error: PlatformError) => error._tag === "SystemError" && error.reason === "NotFound"

const parsePid = (text: string): number | undefined =>
  // A pid of 0 would signal this process's group and always look alive.
  /^[1-9]\d*$/.test(text.trim()) ? Number(text.trim()) : undefined

// Taking over a stale lock. Removing the stale file and creating a new one
// are two steps, so two processes that both judged the lock stale must not
// both do them: the taker first creates, exclusively, a marker named after
// the stale file's identity (inode and modification time), and re-checks
// that identity before removing it. Only one process can hold that marker,
// and a process that gets it later finds the identity changed and starts
// over. A marker whose taker died mid-takeover (a window of a few system
// calls) is reported, not guessed at.
const acquireLock = (
  fs: FileSystem.FileSystem,
  directory: string,
  realDirectory: string
): Effect.Effect<void, DirectoryLocked | StoreError, Scope.Scope> => {
  const path = join(directory, LOCK_FILE)
  const key = join(realDirectory, LOCK_FILE)
  // The lock appears whole: the pid is written to a file of this process's
  // own, then hard-linked to the lock's name (atomic, failing when the lock
  // exists), so no process ever reads a lock without its pid in it.
  const create = Effect.suspend(() => {
    const own = join(directory, `${LOCK_FILE}.${process.pid}.${++lockCounter}`)
    return fs.writeFileString(own, String(process.pid)).pipe(
      Effect.zipRight(fs.link(own, path)),
      Effect.ensuring(Effect.exit(fs.remove(own)))
    )
  })
  const pidOf = (file: string) => Effect.map(Effect.orElseSucceed(fs.readFileString(file), () => ""), parsePid)
  const isHeld = (pid: number) => pid !== process.pid && isAlive(pid)
  // A lock file's identity: inode and modification time (which name the
  // marker) and its content (so that a replacement that reuses the inode
  // within the same millisecond still differs: it names a live pid).
  const identity = Effect.zipWith(
    fs.stat(path),
    fs.readFileString(path),
    (info, text) => ({
      file: `${Option.getOrElse(info.ino, () => 0)}-${
        Option.match(info.mtime, { onNone: () => 0, onSome: (d) => d.getTime() })
      }`,
      text
    })
  )
  const locked = (pid: number | undefined) => new DirectoryLocked({ directory, pid: pid ?? 0 })

  const takeOver = (
    pid: number | undefined,
    stale: { readonly file: string; readonly text: string }
  ): Effect.Effect<boolean, DirectoryLocked | StoreError | PlatformError> => {
    const marker = join(directory, `${LOCK_FILE}.takeover-${stale.file}`)
    return fs.writeFileString(marker, String(process.pid), { flag: "wx" }).pipe(
      Effect.catchIf(
        isAlreadyExists,
        () =>
          Effect.flatMap(
            pidOf(marker),
            (taker): Effect.Effect<never, DirectoryLocked | StoreError> =>
              taker !== undefined && taker !== process.pid && isAlive(taker)
                ? Effect.fail(locked(taker))
                : Effect.fail(
                  new StoreError({
                    operation: "lock",
                    message: `dead letter directory ${directory}: a takeover of the stale lock by process ${
                      taker ?? "?"
                    } did not finish; check that no queue uses the directory, then remove ${path} and ${marker}`
                  })
                )
          )
      ),
      Effect.zipRight(
        Effect.flatMap(Effect.either(identity), (now) => {
          // Someone else finished a takeover meanwhile: start over.
          if (now._tag === "Left" || now.right.file !== stale.file || now.right.text !== stale.text) {
            return Effect.succeed(false)
          }
          return Effect.logWarning(
            `dead letter directory ${directory}: taking over the stale lock of ${
              pid === undefined
                ? "an unreadable lock file"
                : pid === process.pid
                ? `an earlier process with this process's pid ${pid}`
                : `process ${pid}, which is no longer alive`
            }`
          ).pipe(
            Effect.zipRight(fs.remove(path)),
            Effect.zipRight(create),
            Effect.as(true),
            Effect.catchIf(isAlreadyExists, () => Effect.flatMap(pidOf(path), (winner) => Effect.fail(locked(winner))))
          )
        }).pipe(
          Effect.ensuring(
            fs.remove(marker).pipe(
              Effect.catchAll((error) =>
                Effect.logWarning(
                  `dead letter directory ${directory}: the takeover marker was not removed: ${error.message}`
                )
              )
            )
          )
        )
      )
    )
  }

  const attempt = (left: number): Effect.Effect<void, DirectoryLocked | StoreError | PlatformError> =>
    create.pipe(
      Effect.catchIf(isAlreadyExists, () =>
        Effect.gen(function*() {
          // The pid is judged from the same read as the identity re-checked later.
          const found = yield* Effect.either(identity)
          if (found._tag === "Left" && !isNotFound(found.left)) return yield* found.left
          if (found._tag === "Right") {
            const pid = parsePid(found.right.text)
            if (pid !== undefined && isHeld(pid)) return yield* locked(pid)
            if (yield* takeOver(pid, found.right)) return
          }
          if (left === 0) return yield* locked(yield* pidOf(path))
          return yield* attempt(left - 1)
        }))
    )

  const take: Effect.Effect<void, DirectoryLocked | StoreError> = Effect.suspend(() => {
    if (heldHere.has(key)) return Effect.fail(locked(process.pid))
    heldHere.add(key)
    return attempt(3).pipe(
      Effect.mapError((error) =>
        error._tag === "DirectoryLocked" || error._tag === "StoreError" ? error : storeError("lock")(error)
      ),
      Effect.onError(() => Effect.sync(() => heldHere.delete(key)))
    )
  })
  return Effect.acquireRelease(
    take,
    () =>
      Effect.flatMap(pidOf(path), (pid) => pid === process.pid ? fs.remove(path) : Effect.void).pipe(
        // Left behind, the lock names this pid and is taken over at the next start.
        Effect.catchAll((error) =>
          Effect.logWarning(`dead letter directory ${directory}: the lock file was not removed: ${error.message}`)
        ),
        Effect.ensuring(Effect.sync(() => heldHere.delete(key)))
      )
  )
}

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
    const realDirectory = yield* Effect.mapError(fs.realPath(directory), storeError("open"))
    yield* acquireLock(fs, directory, realDirectory)

    const syncDirectory = (dir: string) =>
      Effect.scoped(Effect.flatMap(fs.open(dir, { flag: "r" }), (file) => file.sync))
    // The entries of letters/ and corrupt/ in their parent must be durable
    // before any letter written into them is reported stored.
    yield* Effect.mapError(syncDirectory(directory), storeError("open"))

    const writeAtomic = (name: string, text: string) =>
      Effect.gen(function*() {
        const tmp = join(lettersDir, TMP_PREFIX + name)
        yield* Effect.scoped(Effect.gen(function*() {
          const file = yield* fs.open(tmp, { flag: "w" })
          yield* file.writeAll(new TextEncoder().encode(text))
          yield* file.sync
        }))
        yield* fs.rename(tmp, join(lettersDir, name))
        yield* syncDirectory(lettersDir)
      })

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
      if (name.startsWith(TMP_PREFIX)) {
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

    return yield* makeIndex(
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
