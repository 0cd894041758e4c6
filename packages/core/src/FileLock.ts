/**
 * The lock file that makes one process the owner of a directory — the rule
 * "a file-system layer serves one process" of every AgentOS file layer.
 * `acquire` takes the lock for the life of a `Scope` and removes it when the
 * scope closes.
 *
 * What it guarantees:
 *
 * - **The lock appears whole.** The owner's pid is written to a file of the
 *   owner's own and then hard-linked to the lock's name. `link` is atomic and
 *   fails when the name exists, so no process ever reads a lock file without
 *   its complete pid, and two processes can never both create it.
 * - **A live owner is respected.** A lock naming another live process (judged
 *   by `process.kill(pid, 0)`), or one this process holds already (a second
 *   layer on the same directory, under any spelling of its path: the key is
 *   the real path), fails with `LockHeld`, naming the directory, the lock
 *   file and the owning pid.
 * - **A dead owner's lock is taken over, by exactly one process.** A taker
 *   first creates, exclusively (appearing whole, like the lock), a marker
 *   named after the stale file's identity (inode and modification time),
 *   then re-reads the lock and, only if its identity and content are still
 *   the stale ones, renames a whole file of its own over it (`rename` is
 *   atomic: the lock is never absent, so no other process can create one in
 *   between). Only the holder of that marker ever replaces the stale file,
 *   so of racing takers exactly one wins: the others find the marker and
 *   fail with `LockHeld` naming the live taker (which will own the lock), or
 *   find the lock already replaced and judge the new one (its live owner is
 *   named); a late taker that creates the marker after the winner removed it
 *   finds the lock changed and never touches it.
 * - **A taker that died mid-takeover** (a window of a few system calls)
 *   leaves its marker behind. A marker naming a dead process is itself a
 *   stale file and is taken over by the same rule, one level down (a marker
 *   named after the marker's identity): its remover re-checks that it is
 *   unchanged, removes it and starts the whole acquisition over, so the next
 *   taker proceeds without any guess about how far the dead taker got: if it
 *   had already renamed its file over the stale lock, that lock names a dead
 *   process and is taken over like any other (under a new marker name); if
 *   not, the stale lock is still there, unchanged. After three nested levels
 *   — three takers that each died inside that window — acquisition stops
 *   with `LockFailed`, naming the marker to remove by hand. (A process killed
 *   at the wrong moment may also leave a marker named after a lock that no
 *   longer exists, or its own `<lock>.<pid>.<n>` file: inert, never read.)
 * - **Released on scope close.** The lock is removed if it still names this
 *   process; a lock left behind (the process was killed) names a pid that is
 *   no longer alive and is taken over at the next start.
 * - **Reused pids.** A lock naming this process's own pid that this process
 *   does not hold was left by an earlier process that had the same pid (a
 *   restarted container's pid 1): it is stale and taken over. A lock whose
 *   pid now belongs to another live process cannot be told apart from a
 *   live owner: it is respected, and `LockHeld` names that pid so that an
 *   operator can check it and remove the file.
 *
 * The directory must be on a file system with hard links (any local Linux,
 * macOS or Windows NTFS file system), shared by the processes of one
 * machine: liveness is judged by pid, which means nothing across machines.
 * To share data across processes or machines, use the SQL layers.
 *
 * `acquire` needs only the few file operations of `FileOperations`, which
 * `@effect/platform`'s `FileSystem` provides: pass the service itself.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"

/**
 * A failed file operation, as `@effect/platform`'s `PlatformError` reports
 * it (a `SystemError` with `reason` `"AlreadyExists"` or `"NotFound"` is
 * told apart; any other fails the lock with `LockFailed`).
 *
 * @since 0.1.0
 * @category models
 */
export interface FileError {
  readonly _tag: string
  readonly reason?: string
  readonly message: string
}

/**
 * The file operations the lock uses: a subset of `@effect/platform`'s
 * `FileSystem`, which can be passed as it is (tests may wrap it to inject
 * failures or races).
 *
 * @since 0.1.0
 * @category models
 */
export interface FileOperations {
  readonly writeFileString: (path: string, data: string) => Effect.Effect<void, FileError>
  readonly readFileString: (path: string) => Effect.Effect<string, FileError>
  /** Creates `toPath` as a hard link of `fromPath`; fails with `AlreadyExists` when `toPath` exists. */
  readonly link: (fromPath: string, toPath: string) => Effect.Effect<void, FileError>
  /** Moves `oldPath` to `newPath`, atomically replacing any file there. */
  readonly rename: (oldPath: string, newPath: string) => Effect.Effect<void, FileError>
  readonly remove: (path: string) => Effect.Effect<void, FileError>
  readonly stat: (path: string) => Effect.Effect<{
    readonly ino: Option.Option<number>
    readonly mtime: Option.Option<Date>
  }, FileError>
  readonly realPath: (path: string) => Effect.Effect<string, FileError>
}

/**
 * The directory is locked by a live process: another one, or this one (a
 * second holder of the same directory). `path` is the lock file, `pid` the
 * owner's process id.
 *
 * @since 0.1.0
 * @category errors
 */
export class LockHeld extends Schema.TaggedError<LockHeld>()("LockHeld", {
  directory: Schema.String,
  path: Schema.String,
  pid: Schema.Int
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `the directory ${this.directory} is locked by process ${this.pid} (lock file ${this.path})`
  }
}

/**
 * The lock could not be taken for another reason than a live owner: a file
 * operation failed, or takeovers of a stale lock kept dying half-way. The
 * message says what happened and what to remove by hand, if anything.
 *
 * @since 0.1.0
 * @category errors
 */
export class LockFailed extends Schema.TaggedError<LockFailed>()("LockFailed", {
  directory: Schema.String,
  path: Schema.String,
  message: Schema.String
}) {}

/**
 * Options of `acquire`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The file operations, e.g. `@effect/platform`'s `FileSystem` service. */
  readonly fileSystem: FileOperations
  /** The directory to own. It must exist. */
  readonly directory: string
  /** The lock file's name inside the directory, e.g. `"dlq.lock"`. */
  readonly fileName: string
}

// The locks this process holds or is acquiring, by real path. The
// reservation is taken synchronously before any file is touched, so two
// holders in this process never race for one directory; and a lock file
// naming this process's pid that no reservation covers was left by an
// earlier process with the same pid: it is stale.
const heldHere = new Set<string>()
let ownFiles = 0

// How many markers deep a takeover follows takers that died mid-takeover.
const MAX_DEPTH = 3
// How many times the acquisition starts over after a takeover lost a race.
const ATTEMPTS = 5

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists and belongs to another user.
    return (error as { code?: string }).code === "EPERM"
  }
}

// A pid of 0 (or a negative one) would signal a process group and always look alive.
const parsePid = (text: string): number | undefined => /^[1-9]\d*$/.test(text.trim()) ? Number(text.trim()) : undefined

const isAlreadyExists = (error: FileError) => error._tag === "SystemError" && error.reason === "AlreadyExists"
const isNotFound = (error: FileError) => error._tag === "SystemError" && error.reason === "NotFound"

const join = (directory: string, name: string) => `${directory}/${name}`.replace(/\/+/g, "/")

interface Identity {
  // Inode and modification time: they name the marker.
  readonly id: string
  // The content, so that a replacement that reuses the inode within the same
  // millisecond still differs (it names another, live, pid).
  readonly text: string
}

const sameIdentity = (a: Identity, b: Identity) => a.id === b.id && a.text === b.text

/**
 * Takes the directory's lock file for the life of the scope: fails with
 * `LockHeld` when a live process (or this one) holds it, takes it over when
 * its owner is dead, and removes it when the scope closes. See the module
 * documentation for the protocol.
 *
 * @since 0.1.0
 * @category constructors
 */
export const acquire = (options: Options): Effect.Effect<void, LockHeld | LockFailed, Scope.Scope> => {
  const { directory, fileName, fileSystem: fs } = options
  const path = join(directory, fileName)
  const held = (pid: number) => new LockHeld({ directory, path, pid })
  const failed = (message: string) => new LockFailed({ directory, path, message })

  // Creates `target` whole: the pid goes to a file of this process's own,
  // which is then hard-linked to `target` (fails with AlreadyExists).
  const createWhole = (target: string) =>
    Effect.suspend(() => {
      const own = `${path}.${process.pid}.${++ownFiles}`
      return fs.writeFileString(own, String(process.pid)).pipe(
        Effect.zipRight(fs.link(own, target)),
        Effect.ensuring(Effect.ignore(fs.remove(own)))
      )
    })
  // Replaces the stale lock in one step: the pid goes to a file of this
  // process's own, which is renamed over the lock (atomic, so the lock is
  // never absent in between and no fresh creator can slip in).
  const replaceLock = Effect.suspend(() => {
    const own = `${path}.${process.pid}.${++ownFiles}`
    return fs.writeFileString(own, String(process.pid)).pipe(
      Effect.zipRight(fs.rename(own, path)),
      Effect.onError(() => Effect.ignore(fs.remove(own))),
      Effect.as(true)
    )
  })
  const identity = (file: string): Effect.Effect<Identity, FileError> =>
    Effect.zipWith(fs.stat(file), fs.readFileString(file), (info, text) => ({
      id: `${Option.getOrElse(info.ino, () => 0)}-${
        Option.match(info.mtime, { onNone: () => 0, onSome: (date) => date.getTime() })
      }`,
      text
    }))
  const ownedElsewhere = (pid: number | undefined): pid is number =>
    pid !== undefined && pid !== process.pid && isAlive(pid)
  const describe = (pid: number | undefined, what: string) =>
    pid === undefined
      ? `an unreadable ${what}`
      : pid === process.pid
      ? `the ${what} of an earlier process with this process's pid ${pid}`
      : `the ${what} of process ${pid}, which is no longer alive`

  // Runs `replace` on the stale `file`, last seen as `seen`, while holding the
  // marker named after `seen`, once the file is found unchanged. `false`:
  // start over (the file changed, or a dead taker's marker was cleared).
  const takeOver = (
    file: string,
    seen: Identity,
    depth: number,
    what: string,
    replace: Effect.Effect<boolean, FileError>
  ): Effect.Effect<boolean, LockHeld | LockFailed | FileError> => {
    const marker = `${file}.takeover-${seen.id}`
    const removeAndThen = Effect.gen(function*() {
      const now = yield* Effect.either(identity(file))
      if (Either.isLeft(now)) return isNotFound(now.left) ? false : yield* Effect.fail(now.left)
      // Someone else finished a takeover meanwhile: the file is not the stale one.
      if (!sameIdentity(now.right, seen)) return false
      yield* Effect.logWarning(`lock ${path}: taking over ${describe(parsePid(seen.text), what)}`)
      return yield* replace
    }).pipe(
      Effect.ensuring(
        fs.remove(marker).pipe(
          Effect.catchAll((error) =>
            Effect.logWarning(`lock ${path}: the takeover marker ${marker} was not removed: ${error.message}`)
          )
        )
      )
    )
    // Another taker holds the marker.
    const markerTaken = Effect.gen(function*() {
      const found = yield* Effect.either(identity(marker))
      if (Either.isLeft(found)) return isNotFound(found.left) ? false : yield* Effect.fail(found.left)
      const taker = parsePid(found.right.text)
      if (ownedElsewhere(taker)) {
        // A live taker: if the file is still the stale one, that taker will
        // win (it holds the only marker for it); if it changed, start over
        // and judge the new file (its owner, not a late taker, is named).
        const now = yield* Effect.either(identity(file))
        if (Either.isRight(now) && sameIdentity(now.right, seen)) return yield* held(taker)
        return false
      }
      if (depth + 1 >= MAX_DEPTH) {
        return yield* failed(
          `the lock file ${path}: takeovers of a stale lock by processes that are no longer alive did not finish; ` +
            `check that no process uses ${directory}, then remove ${marker}`
        )
      }
      // The taker died mid-takeover: its marker is stale in turn.
      yield* takeOver(marker, found.right, depth + 1, "takeover marker", Effect.as(fs.remove(marker), false))
      return false
    })
    return createWhole(marker).pipe(
      Effect.as(true),
      Effect.catchIf(isAlreadyExists, () => Effect.succeed(false)),
      Effect.flatMap((mine) => mine ? removeAndThen : markerTaken)
    )
  }

  const createLock = createWhole(path).pipe(
    Effect.as(true),
    // Another process created a fresh lock in the meantime: judge it.
    Effect.catchIf(isAlreadyExists, () => Effect.succeed(false))
  )

  const attempt = (left: number): Effect.Effect<void, LockHeld | LockFailed | FileError> =>
    Effect.flatMap(createLock, (created) =>
      created ? Effect.void : Effect.gen(function*() {
        // The owner is judged from the same read as the identity re-checked later.
        const found = yield* Effect.either(identity(path))
        if (Either.isLeft(found) && !isNotFound(found.left)) return yield* Effect.fail(found.left)
        if (Either.isRight(found)) {
          const pid = parsePid(found.right.text)
          if (ownedElsewhere(pid)) return yield* held(pid)
          if (yield* takeOver(path, found.right, 0, "stale lock", replaceLock)) return
        }
        if (left === 0) {
          const owner = yield* Effect.orElseSucceed(Effect.map(fs.readFileString(path), parsePid), () => undefined)
          return yield* ownedElsewhere(owner)
            ? held(owner)
            : failed(`the lock file ${path} kept changing during ${ATTEMPTS} attempts to take it`)
        }
        return yield* attempt(left - 1)
      }))

  const take = Effect.flatMap(
    Effect.mapError(
      fs.realPath(directory),
      (error) => failed(`the directory ${directory} cannot be locked: ${error.message}`)
    ),
    (real) =>
      Effect.suspend(() => {
        const key = join(real, fileName)
        if (heldHere.has(key)) return Effect.fail(held(process.pid))
        heldHere.add(key)
        return attempt(ATTEMPTS).pipe(
          Effect.mapError((error) =>
            error instanceof LockHeld || error instanceof LockFailed
              ? error
              : failed(`the lock file ${path}: ${error.message}`)
          ),
          Effect.onError(() => Effect.sync(() => heldHere.delete(key))),
          Effect.as(key)
        )
      })
  )

  return Effect.asVoid(Effect.acquireRelease(take, (key) =>
    fs.readFileString(path).pipe(
      Effect.flatMap((text) => parsePid(text) === process.pid ? fs.remove(path) : Effect.void),
      // Left behind, the lock names this pid and is taken over at the next start.
      Effect.catchAll((error) =>
        isNotFound(error)
          ? Effect.void
          : Effect.logWarning(`lock ${path}: the lock file was not removed: ${error.message}`)
      ),
      Effect.ensuring(Effect.sync(() => heldHere.delete(key)))
    )))
}
