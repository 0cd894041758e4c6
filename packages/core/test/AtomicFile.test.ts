import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as AtomicFile from "../src/AtomicFile.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "agentos-atomic-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

describe("AtomicFile.write", () => {
  it.scoped("replaces a file's content and leaves no temporary file", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = Path.join(dir, "a.json")
      const fs = yield* FileSystem.FileSystem
      yield* AtomicFile.write(fs, path, "first")
      yield* AtomicFile.write(fs, path, new TextEncoder().encode("second"))
      assert.strictEqual(Fs.readFileSync(path, "utf8"), "second")
      assert.deepStrictEqual(Fs.readdirSync(dir), ["a.json"])
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("writes the temporary file, fsyncs it, renames it, then fsyncs the directory, in that order", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const real = yield* FileSystem.FileSystem
      const calls: Array<string> = []
      const recording = FileSystem.FileSystem.of({
        ...real,
        open: (path, options) =>
          Effect.map(real.open(path, options), (file) => ({
            ...file,
            writeAll: (bytes: Uint8Array) =>
              Effect.zipRight(Effect.sync(() => void calls.push(`write ${Path.basename(path)}`)), file.writeAll(bytes)),
            sync: Effect.zipRight(Effect.sync(() => void calls.push(`sync ${Path.basename(path)}`)), file.sync)
          })),
        rename: (from, to) =>
          Effect.zipRight(
            Effect.sync(() => void calls.push(`rename ${Path.basename(from)} ${Path.basename(to)}`)),
            real.rename(from, to)
          )
      })
      yield* AtomicFile.write(recording, Path.join(dir, "b.json"), "x")
      assert.strictEqual(calls.length, 4)
      assert.match(calls[0]!, /^write \.b\.json\.[0-9a-f]{12}\.tmp$/)
      assert.match(calls[1]!, /^sync \.b\.json\.[0-9a-f]{12}\.tmp$/)
      assert.match(calls[2]!, /^rename \.b\.json\.[0-9a-f]{12}\.tmp b\.json$/)
      assert.strictEqual(calls[3], `sync ${Path.basename(dir)}`)
      assert.isTrue(AtomicFile.isTempFile(calls[0]!.slice("write ".length)))
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("a write that fails keeps the old content and removes its temporary file", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = Path.join(dir, "c.json")
      const real = yield* FileSystem.FileSystem
      yield* AtomicFile.write(real, path, "old")
      const failing = FileSystem.FileSystem.of({
        ...real,
        rename: () => real.rename(Path.join(dir, "missing"), Path.join(dir, "nowhere"))
      })
      const result = yield* Effect.either(
        AtomicFile.write(failing, path, "new")
      )
      assert.isTrue(Either.isLeft(result))
      assert.strictEqual(Fs.readFileSync(path, "utf8"), "old")
      assert.deepStrictEqual(Fs.readdirSync(dir), ["c.json"])
    }).pipe(Effect.provide(NodeFileSystem.layer)))
})

describe("AtomicFile names", () => {
  it("encodeName is reversible, injective and safe for any id", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.string({ unit: "grapheme" }), FastCheck.string({ unit: "grapheme" }), (a, b) => {
        const name = AtomicFile.encodeName(a)
        assert.notInclude(name, "/")
        assert.notInclude(name, "\u0000")
        assert.isFalse(name.startsWith("."))
        assert.isFalse(AtomicFile.isTempFile(name))
        assert.strictEqual(AtomicFile.decodeName(name), a)
        if (a !== b) assert.notStrictEqual(AtomicFile.encodeName(b), name)
      })
    )
    assert.strictEqual(AtomicFile.encodeName(".."), "%2E.")
    assert.strictEqual(AtomicFile.encodeName("wf:1/a"), "wf%3A1%2Fa")
  })

  it("decodeName refuses names encodeName never produces; encodeName refuses a lone surrogate", () => {
    assert.isUndefined(AtomicFile.decodeName(".hidden"))
    assert.isUndefined(AtomicFile.decodeName("a b"))
    assert.isUndefined(AtomicFile.decodeName("%E0%A4%A"))
    assert.throws(() => AtomicFile.encodeName("a\uD800"), /lone surrogate/)
  })
})
