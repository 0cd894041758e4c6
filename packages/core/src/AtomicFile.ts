/**
 * Atomic file writes for the file-system layers: a file is either its old
 * content or its new content after a crash, never a mix, and once `write`
 * succeeds the new content survives a power loss.
 *
 * `write(fs, path, data)` writes a temporary file in the same directory
 * (`.<name>.<random>.tmp`), fsyncs it, renames it over `path` (atomic on
 * POSIX file systems) and fsyncs the directory so the rename itself is
 * durable. A temporary file found at start was left by a write that did not
 * finish: `isTempFile` recognises it, and the store removes or reports it.
 *
 * `encodeName` / `decodeName` turn an id into a file name and back, the same
 * way in every package: any string maps to a name without `/`, NUL or a
 * leading `.` (so never `.`, `..` or a hidden temporary file), reversibly.
 *
 * Like `FileLock`, it takes the file system as an argument and needs only a
 * few of its operations (`FileOperations`): `@effect/platform`'s
 * `FileSystem` fits as it is, and core does not depend on `@effect/platform`.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import type * as Scope from "effect/Scope"
import type { FileError } from "./FileLock.js"

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

const TEMP = /^\..+\.[0-9a-f]{12}\.tmp$/

const dirname = (path: string): string => {
  const at = path.lastIndexOf("/")
  return at < 0 ? "." : at === 0 ? "/" : path.slice(0, at)
}

const basename = (path: string): string => path.slice(path.lastIndexOf("/") + 1)

const randomHex = Effect.map(
  Effect.all([Random.nextIntBetween(0, 0x1000000), Random.nextIntBetween(0, 0x1000000)]),
  ([a, b]) => a.toString(16).padStart(6, "0") + b.toString(16).padStart(6, "0")
)

/**
 * The file operations `write` and `syncDirectory` use: `@effect/platform`'s
 * `FileSystem` provides them.
 *
 * @since 0.2.0
 */
export interface FileOperations {
  readonly open: (
    path: string,
    options: { readonly flag: "r" | "w" }
  ) => Effect.Effect<OpenFile, FileError, Scope.Scope>
  /** Moves `oldPath` to `newPath`, atomically replacing any file there. */
  readonly rename: (oldPath: string, newPath: string) => Effect.Effect<void, FileError>
  readonly remove: (path: string) => Effect.Effect<void, FileError>
}

/**
 * The operations `write` needs of an open file.
 *
 * @since 0.2.0
 */
export interface OpenFile {
  readonly writeAll: (buffer: Uint8Array) => Effect.Effect<void, FileError>
  readonly sync: Effect.Effect<void, FileError>
}

/**
 * Makes a directory's entries durable (the names created, renamed or removed
 * in it): fsync of the directory itself.
 *
 * @since 0.2.0
 */
export const syncDirectory = (fs: FileOperations, directory: string): Effect.Effect<void, FileError> =>
  Effect.scoped(Effect.flatMap(fs.open(directory, { flag: "r" }), (file) => file.sync))

/**
 * Writes `data` to `path` atomically and durably (see the module's
 * description). On failure the temporary file is removed and `path` keeps
 * its old content.
 *
 * @since 0.2.0
 */
export const write = (
  fs: FileOperations,
  path: string,
  data: string | Uint8Array
): Effect.Effect<void, FileError> =>
  Effect.gen(function*() {
    const directory = dirname(path)
    const temp = `${directory}/.${basename(path)}.${yield* randomHex}.tmp`
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data
    yield* Effect.scoped(Effect.gen(function*() {
      const file = yield* fs.open(temp, { flag: "w" })
      yield* file.writeAll(bytes)
      yield* file.sync
    })).pipe(
      Effect.zipRight(fs.rename(temp, path)),
      Effect.tapError(() => Effect.ignore(fs.remove(temp)))
    )
    yield* syncDirectory(fs, directory)
  })

/**
 * Whether a file name is a temporary file of `write` (left behind by a write
 * that did not finish).
 *
 * @since 0.2.0
 */
export const isTempFile = (name: string): boolean => TEMP.test(name)

/**
 * A file name for an id: `encodeURIComponent` of it, with a leading `.`
 * written `%2E`. Reversible with `decodeName`; distinct ids give distinct
 * names. An id holding a lone surrogate (which no AgentOS id may hold: see
 * `Json.textIssue`) has no name: a `TypeError`.
 *
 * @since 0.2.0
 */
export const encodeName = (id: string): string => {
  if (LONE_SURROGATE.test(id)) throw new TypeError(`AtomicFile.encodeName: the id holds a lone surrogate`)
  const encoded = encodeURIComponent(id)
  return encoded.startsWith(".") ? "%2E" + encoded.slice(1) : encoded
}

/**
 * The id a file name of `encodeName` stands for; undefined when the name is
 * not one `encodeName` produces (a stray file).
 *
 * @since 0.2.0
 */
export const decodeName = (name: string): string | undefined => {
  try {
    const id = decodeURIComponent(name)
    return encodeName(id) === name ? id : undefined
  } catch {
    return undefined
  }
}
