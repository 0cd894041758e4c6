// Fuzzing the HTTP API with requests generated from its own schemas: every
// endpoint of `Api.Api` is walked with `HttpApi.reflect`, and its path, query,
// header and body schemas give effect/FastCheck arbitraries (`Arbitrary.make`)
// for values that decode, mixed with values that do not (any JSON) and with
// malformed bytes (truncated JSON, wrong content types, huge numbers, unicode
// and NUL, deep nesting, bytes that are not UTF-8). For each request: never a
// 5xx, an error body in the documented shape, and a rejected request (4xx)
// leaves every table of the database exactly as it was. The server keeps
// answering /healthz. Seeded and bounded.
import { Backends } from "@agentos/testkit"
import type { SqlClient } from "@effect/sql"
import { assert, describe, it } from "@effect/vitest"
import type { SchemaAST as AST } from "effect"
import { Arbitrary, Effect, FastCheck as fc, Layer, Logger, LogLevel, Option, Runtime, Schema } from "effect"
import * as Net from "node:net"
import { changedTables, config, eventually, type Route, routes, start, tableRows } from "./harness.js"

const quiet = <A, E, R>(effect: Effect.Effect<A, E, R>) => Logger.withMinimumLogLevel(effect, LogLevel.None)

// ---------------------------------------------------------------- the routes, from the contract

// ---------------------------------------------------------------- arbitraries

/** Values of a schema's type, in their encoded (wire) form. */
const encoded = (schema: Schema.Schema<any, any>): fc.Arbitrary<unknown> =>
  Arbitrary.make(schema).map((value) => Schema.encodeSync(schema)(value))

/** Strings with anything in them: unicode, NUL, control characters, lone surrogates. */
const nasty = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom("\u0000", "a\u0000b", "\uD800", "💥".repeat(30), "../../etc/passwd", "%00", "%", "é\u0301", "\r\n"),
  fc.string({ maxLength: 40 })
)

const uriSafe = (text: string) => {
  try {
    return encodeURIComponent(text)
  } catch {
    // A lone surrogate has no UTF-8: send the bytes of its code point (CESU-8), which are not UTF-8 either.
    return text.split(/([\uD800-\uDFFF])/).map((part) =>
      /^[\uD800-\uDFFF]$/.test(part)
        ? Array.from(
          Buffer.from([
            0xe0 | (part.charCodeAt(0) >> 12),
            0x80 | ((part.charCodeAt(0) >> 6) & 0x3f),
            0x80 | (part.charCodeAt(0) & 0x3f)
          ]),
          (b) => `%${b.toString(16).toUpperCase()}`
        ).join("")
        : encodeURIComponent(part)
    ).join("")
  }
}

/** Numbers JSON can carry that no schema expects. */
const hugeNumbers = fc.constantFrom(
  "1e309",
  "-1e309",
  "123456789012345678901234567890",
  "9007199254740993",
  "-0",
  "0.0000000000000000000001",
  "1E400",
  "4.9e-324"
)

interface Wire {
  readonly method: string
  readonly path: string
  readonly headers: Record<string, string>
  readonly body?: string | Uint8Array
  readonly label: string
}

const deep = (depth: number, open: string, close: string, inner = "1") =>
  open.repeat(depth) + inner + close.repeat(depth)

/** A body for a route: valid by its schema, any JSON, or malformed bytes. */
const bodyFor = (route: Route): fc.Arbitrary<{ readonly body: string | Uint8Array; readonly kind: string }> => {
  const valid = Option.match(route.payloadSchema, {
    onNone: () => fc.jsonValue({ maxDepth: 3 }),
    onSome: encoded
  })
  return fc.oneof(
    { weight: 4, arbitrary: valid.map((v) => ({ body: JSON.stringify(v) ?? "null", kind: "schema" })) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => ({ body: JSON.stringify(v), kind: "json" })) },
    {
      weight: 2,
      arbitrary: fc.tuple(valid, fc.nat()).map(([v, cut]) => {
        const text = JSON.stringify(v) ?? "{}"
        return { body: text.slice(0, cut % Math.max(1, text.length)), kind: "truncated" }
      })
    },
    {
      weight: 1,
      arbitrary: fc.tuple(
        valid,
        fc.constantFrom("priority", "outputTokens", "resolvedOlderThanHours", "topic"),
        hugeNumbers
      )
        .map(([v, key, n]) => {
          const object = typeof v === "object" && v !== null && !Array.isArray(v) ? v : {}
          const text = JSON.stringify({ ...object, [key]: 0 }).replace(`"${key}":0`, `"${key}":${n}`)
          return { body: text, kind: "huge-number" }
        })
    },
    {
      weight: 1,
      arbitrary: fc.tuple(valid, nasty).map(([v, s]) => {
        const object = typeof v === "object" && v !== null && !Array.isArray(v) ? v : {}
        // Unicode and NUL in every string field and as a key.
        const replaced = Object.fromEntries(
          Object.entries(object).map(([k, value]) => [k, typeof value === "string" ? s : value])
        )
        const body = JSON.stringify({ ...replaced, [s]: s })
        return { body, kind: "unicode" }
      })
    },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.integer({ min: 100, max: 20_000 }), fc.boolean()).map(([depth, arrays]) => ({
        body: arrays
          ? `{"value":{"a":${deep(depth, "[", "]")}},"topic":${deep(depth, "[", "]")},"type":"research","payload":${
            deep(depth, "[", "]")
          }}`
          : `{"value":${deep(Math.min(depth, 6_000), "{\"a\":", "}")}}`,
        kind: "deep"
      }))
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ body: bytes, kind: "bytes" })) }
  )
}

const contentTypes = fc.oneof(
  { weight: 6, arbitrary: fc.constant("application/json") },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data",
      "multipart/form-data; boundary=x",
      "application/octet-stream",
      "application/json; charset=utf-16",
      "application/json; charset=\u00ff",
      ""
    )
  }
)

const printable = fc.string({ maxLength: 30 }).filter((s) => /^[\x20-\x7e]*$/.test(s))

/** Ids and keys that exist in the service when the fuzzing starts. */
interface Known {
  readonly ids: ReadonlyArray<string>
  readonly keys: ReadonlyArray<string>
}

const requestFor = (route: Route, known: Known): fc.Arbitrary<Wire> => {
  const pathParams = Option.match(route.pathSchema, {
    onNone: () => fc.constant({} as Record<string, string>),
    onSome: (schema) =>
      fc.oneof(
        { weight: 3, arbitrary: fc.record({ id: fc.constantFrom(...known.ids), key: fc.constantFrom(...known.keys) }) },
        { weight: 1, arbitrary: encoded(schema).map((v) => v as Record<string, string>) },
        { weight: 1, arbitrary: nasty.map((s) => ({ id: s, key: s })) }
      )
  })
  const query = Option.match(route.urlParamsSchema, {
    onNone: () => fc.constant(""),
    onSome: (schema) =>
      fc.oneof(
        encoded(schema).map((v) =>
          new URLSearchParams(
            Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).map((
              [k, x]
            ) => [k, String(x)] as [string, string])
          ).toString()
        ),
        fc.dictionary(fc.constantFrom("limit", "topK", "status", "resolved", "cursor", "query", "agent"), nasty)
          .map((d) => Object.entries(d).map(([k, v]) => `${k}=${uriSafe(v)}`).join("&"))
      )
  })
  const ifMatch = Option.match(route.headersSchema, {
    onNone: () => fc.constant(undefined),
    onSome: () => fc.option(fc.oneof(fc.nat().map(String), printable, hugeNumbers), { nil: undefined })
  })
  const hasBody = route.method !== "GET" && route.method !== "HEAD"
  return fc.record({
    params: pathParams,
    query,
    ifMatch,
    body: hasBody ? fc.option(bodyFor(route), { nil: undefined, freq: 8 }) : fc.constant(undefined),
    contentType: contentTypes
  }).map(({ body, contentType, ifMatch, params, query }) => {
    const path = route.path.replace(
      /:(\w+)/g,
      (_, name: string) => uriSafe(String((params as Record<string, string>)[name] ?? "")) || "x"
    )
    const headers: Record<string, string> = {}
    if (body !== undefined && contentType !== "") headers["content-type"] = contentType
    if (ifMatch !== undefined) headers["if-match"] = ifMatch
    return {
      method: route.method,
      path: query === "" ? path : `${path}?${query}`,
      headers,
      ...(body === undefined ? {} : { body: body.body }),
      label: `${route.method} ${route.path} ${body?.kind ?? "no body"} ${contentType}`
    }
  })
}

/** Any route; the mutating ones (and those with inputs) more often than the plain reads. */
const anyRequest = (known: Known) =>
  fc.oneof(...routes.map((route) => ({
    weight: route.method === "GET"
      ? (Option.isSome(route.urlParamsSchema) || Option.isSome(route.pathSchema) ? 2 : 1)
      : 5,
    arbitrary: requestFor(route, known)
  })))

// ---------------------------------------------------------------- every string input, one at a time

/** Whether a schema's encoded side takes a string (a string, a string literal, a union with one). */
const takesString = (ast: AST.AST): boolean => {
  switch (ast._tag) {
    case "StringKeyword":
    case "TemplateLiteral":
      return true
    case "Literal":
      return typeof ast.literal === "string"
    case "Refinement":
      return takesString(ast.from)
    case "Transformation":
      return takesString(ast.from)
    case "Union":
      return ast.types.some(takesString)
    case "Suspend":
      return takesString(ast.f())
    default:
      return false
  }
}

/** The names of a struct schema's fields that take a string on the wire. */
const stringFields = (schema: Option.Option<Schema.Schema<any, any>>): Array<string> =>
  Option.match(schema, {
    onNone: () => [],
    onSome: (s) => {
      const ast = Schema.encodedSchema(s).ast
      return ast._tag === "TypeLiteral"
        ? ast.propertySignatures.filter((p) => takesString(p.type)).map((p) => String(p.name))
        : []
    }
  })

/** One request that decodes (a seeded sample of the route's schemas), with path params filled in. */
const validSample = (route: Route, known: Known) => {
  const sample = (schema: Option.Option<Schema.Schema<any, any>>) =>
    Option.match(schema, {
      onNone: () => ({} as Record<string, unknown>),
      onSome: (s) => fc.sample(encoded(s), { seed: 7, numRuns: 1 })[0] as Record<string, unknown>
    })
  const payload = sample(route.payloadSchema)
  // The task's payload is `unknown` in the contract; the research task reads a topic and an agent.
  if (route.path === "/tasks") Object.assign(payload, { type: "research", payload: { topic: "a", agent: "lead" } })
  return {
    params: { id: known.ids[0]!, key: "notes/a" } as Record<string, string>,
    query: Object.fromEntries(
      Object.entries(sample(route.urlParamsSchema)).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)])
    ),
    payload
  }
}

/**
 * For every route and every string input it has — a path parameter, a query
 * parameter, a header, a string field of the body (and the research task's
 * topic and agent inside `/tasks`' payload, and a state value's key and
 * string) — the request with `text` in that one place.
 */
const injections = (known: Known, text: string): Array<Wire> => {
  const out: Array<Wire> = []
  for (const route of routes) {
    const base = validSample(route, known)
    const make = (
      where: string,
      change: (r: { params: Record<string, string>; query: Record<string, string>; payload: any }) => void,
      headers: Record<string, string> = {}
    ) => {
      const r = structuredClone(base)
      change(r)
      const path = route.path.replace(/:(\w+)/g, (_, name: string) => uriSafe(r.params[name] ?? "x"))
      const query = Object.entries(r.query).map(([k, v]) => `${k}=${uriSafe(v)}`).join("&")
      const hasBody = route.method !== "GET" && Option.isSome(route.payloadSchema)
      out.push({
        method: route.method,
        path: query === "" ? path : `${path}?${query}`,
        headers: { ...(hasBody ? { "content-type": "application/json" } : {}), ...headers },
        ...(hasBody ? { body: JSON.stringify(r.payload) } : {}),
        label: `${route.method} ${route.path} ${where}`
      })
    }
    for (const name of route.path.match(/:(\w+)/g) ?? []) {
      make(`path ${name}`, (r) => (r.params[name.slice(1)] = text))
    }
    for (const name of stringFields(route.urlParamsSchema)) make(`query ${name}`, (r) => (r.query[name] = text))
    for (const name of stringFields(route.payloadSchema)) make(`body ${name}`, (r) => (r.payload[name] = text))
    if (Option.isSome(route.headersSchema)) {
      make("header if-match", () => {}, { "if-match": text.replace(/[^\x20-\x7e]/g, "?") })
    }
    if (route.path === "/tasks") {
      make("body payload.topic", (r) => (r.payload.payload.topic = text))
      make("body payload.agent", (r) => (r.payload.payload.agent = text))
    }
    if (route.path === "/state/:key") {
      make("body value (a key)", (r) => (r.payload.value = { [text]: 1 }))
      make("body value (a string)", (r) => (r.payload.value = { text }))
    }
  }
  return out
}

// ---------------------------------------------------------------- the witness: every table

const attempt = async (base: string, wire: Wire) => {
  const response = await fetch(`${base}${wire.path}`, {
    method: wire.method,
    headers: wire.headers,
    ...(wire.body === undefined ? {} : { body: wire.body }),
    signal: AbortSignal.timeout(30_000)
  })
  const text = await response.text()
  let body: any
  try {
    body = JSON.parse(text)
  } catch {
    body = undefined
  }
  return { status: response.status, text, body }
}

/**
 * Sends a request. A connection the server had just closed while idle (its
 * keep-alive timeout) fails in the client before the request is sent; that
 * request is sent again once, on a new connection.
 */
const send = (base: string, wire: Wire) => attempt(base, wire).catch(() => attempt(base, wire))

/** Nothing queued or running: accepted work has finished writing. */
const idle = (base: string) =>
  eventually(Effect.promise(async () => {
    const snapshot = (await (await fetch(`${base}/supervisor`)).json()) as any
    return snapshot.running === 0 && Object.values(snapshot.queueDepth).every((n) => n === 0) ? true : undefined
  }))

// ---------------------------------------------------------------- the runs

const RUNS = { sqlite: 100, postgres: 40 } as const

for (const backend of Backends.sqlBackends()) {
  describe(`demo API fuzzing (${backend.name})`, () => {
    it.live(
      "requests from the API's own schemas and malformed bytes: no 5xx, a rejected one writes nothing",
      () =>
        Effect.gen(function*() {
          const database = yield* Layer.build(backend.layer)
          const sql = Layer.succeedContext(database)
          const post = (base: string, topic: string) =>
            Effect.promise(() =>
              send(base, {
                method: "POST",
                path: "/workflows",
                headers: { "content-type": "application/json" },
                body: JSON.stringify({ topic }),
                label: ""
              })
            )
          // Real ids to aim at: failed workflows and their dead letters (a first start of the service on
          // the same database, whose every model call fails), a completed workflow, state keys.
          const failed = yield* Effect.scoped(Effect.gen(function*() {
            const { base } = yield* start(config({ agents: ["lead", "analyst"], simFailureRate: 1 }), sql)
            const ids: Array<string> = []
            for (let i = 0; i < 2; i++) ids.push((yield* post(base, `doomed ${i}`)).body.id)
            const letters = yield* eventually(
              Effect.promise(async () => {
                const page = (await send(base, { method: "GET", path: "/dead-letters", headers: {}, label: "" })).body
                return page.letters.length === ids.length ? page.letters.map((l: any) => l.id as string) : undefined
              }),
              "60 seconds"
            )
            return [...ids, ...letters] as Array<string>
          }))
          const { base } = yield* start(config({ maxBodyBytes: 64 * 1024, agents: ["lead", "analyst"] }), sql)
          const ids = [...failed, (yield* post(base, "seed")).body.id as string]
          const known: Known = {
            ids,
            keys: ["notes/a", "team/progress", "demo/tasks/x", `research/${ids[0]}`]
          }
          const runtime = yield* Effect.runtime<never>()
          const run = <A>(effect: Effect.Effect<A, never, SqlClient.SqlClient>) =>
            Runtime.runPromise(runtime)(Effect.provide(effect, database))
          const seen = { requests: 0, rejected: 0, accepted: 0, written: 0 }
          const statuses = new Map<number, number>()

          yield* Effect.promise(() =>
            fc.assert(
              fc.asyncProperty(anyRequest(known), async (wire) => {
                await run(idle(base))
                const before = await run(tableRows)
                const response = await send(base, wire)
                seen.requests++
                statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
                const what = `${wire.label}: ${wire.method} ${wire.path.slice(0, 200)} -> ${response.status} ${
                  response.text.slice(0, 300)
                }`
                assert.isBelow(response.status, 500, what)
                if (response.status >= 400) {
                  seen.rejected++
                  // The documented error shape.
                  assert.isString(response.body?._tag, what)
                  assert.isString(response.body?.message, what)
                  const after = await run(tableRows)
                  assert.deepStrictEqual(changedTables(before, after), [], `written by a rejected request: ${what}`)
                } else {
                  seen.accepted++
                  if (wire.method !== "GET") seen.written++
                }
              }),
              { seed: 19, numRuns: RUNS[backend.name], endOnFailure: true }
            )
          )
          // Both kinds were exercised, and the server still answers.
          assert.isAbove(seen.written, 0, JSON.stringify([...statuses]))
          assert.isAbove(seen.rejected, seen.requests / 4, JSON.stringify([...statuses]))
          assert.isAbove(seen.accepted, 0, JSON.stringify([...statuses]))
          assert.strictEqual(
            (yield* Effect.promise(() => send(base, { method: "GET", path: "/healthz", headers: {}, label: "" })))
              .status,
            200
          )
        }).pipe(Effect.scoped, quiet),
      { timeout: 240_000 }
    )
  })
}

for (const backend of Backends.sqlBackends()) {
  describe(`demo API: text no backend can store, in every string input (${backend.name})`, () => {
    it.live(
      "NUL, a lone surrogate and control characters in each string input: a 4xx or a success, never a 5xx",
      () =>
        Effect.gen(function*() {
          const database = yield* Layer.build(backend.layer)
          const { base } = yield* start(config({ agents: ["lead", "analyst"] }), Layer.succeedContext(database))
          const seed = yield* Effect.promise(() =>
            send(base, {
              method: "POST",
              path: "/workflows",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ topic: "seed" }),
              label: ""
            })
          )
          const known: Known = { ids: [seed.body.id], keys: ["notes/a"] }
          const failures: Array<string> = []
          let sent = 0
          // Text no backend stores alike is refused at the contract (core's Json.StorableString).
          for (const text of ["a\u0000b", "\uD800", "\u0001\u001f\u007f", "\u2028\u2029\uFEFF"]) {
            for (const wire of injections(known, text)) {
              const response = yield* Effect.promise(() => send(base, wire))
              sent++
              if (response.status >= 500) {
                failures.push(
                  `${wire.label} ${JSON.stringify(text)} -> ${response.status} ${response.text.slice(0, 160)}`
                )
              }
            }
          }
          assert.deepStrictEqual(failures, [])
          assert.isAbove(sent, 100)
          assert.strictEqual((yield* Effect.promise(() => fetch(`${base}/healthz`))).status, 200)
        }).pipe(Effect.scoped, quiet),
      { timeout: 60_000 }
    )
  })
}

for (const backend of Backends.sqlBackends()) {
  describe(`demo API: bodies the server cannot read, and ages beyond the clock (${backend.name})`, () => {
    it.live(
      "a multipart or otherwise unreadable body is a 4xx in the documented shape and writes nothing; a purge age of 1e15 hours removes nothing",
      () =>
        Effect.gen(function*() {
          const database = yield* Layer.build(backend.layer)
          const { base } = yield* start(config({ agents: ["lead", "analyst"] }), Layer.succeedContext(database))
          const runtime = yield* Effect.runtime<never>()
          const run = <A>(effect: Effect.Effect<A, never, SqlClient.SqlClient>) =>
            Runtime.runPromise(runtime)(Effect.provide(effect, database))
          yield* Effect.promise(() => run(idle(base)))
          const before = yield* Effect.promise(() => run(tableRows))
          const failures: Array<string> = []
          const multipart = "--x\r\nContent-Disposition: form-data; name=\"topic\"\r\n\r\nt\r\n--x--\r\n"
          for (const path of ["/workflows", "/tasks", "/dead-letters/purge", "/state/notes%2Fa"]) {
            for (
              const [contentType, body] of [
                ["multipart/form-data", "{\"topic\":\"t\"}"],
                ["multipart/form-data; boundary=x", "{\"topic\":\"t\"}"],
                ["multipart/form-data; boundary=x", multipart],
                ["multipart/form-data; boundary=", multipart],
                ["text/plain", "{\"topic\":\"t\"}"],
                ["application/octet-stream", "\u00ff\u0000"],
                ["application/x-www-form-urlencoded", "topic=t"],
                ["text/json", "{\"topic\":\"t\"}"]
              ] as const
            ) {
              const wire: Wire = {
                method: path.startsWith("/state/") ? "PUT" : "POST",
                path,
                headers: { "content-type": contentType },
                body,
                label: `${path} ${contentType}`
              }
              const response = yield* Effect.promise(() => send(base, wire))
              const what = `${wire.method} ${path} (${contentType}) ${JSON.stringify(body)} -> ${response.status} ${
                response.text.slice(0, 200)
              }`
              if (response.status >= 500) failures.push(what)
              else if (response.status >= 400) {
                if (typeof response.body?._tag !== "string" || typeof response.body?.message !== "string") {
                  failures.push(`not the documented error shape: ${what}`)
                }
              } else failures.push(`a body that is not application/json was accepted: ${what}`)
            }
          }
          assert.deepStrictEqual(failures, [])
          yield* Effect.promise(() => run(idle(base)))
          const after = yield* Effect.promise(() => run(tableRows))
          assert.deepStrictEqual(changedTables(before, after), [], "written by a rejected request")
          // An age whose cut-off (now minus the age) leaves the range of a bigint removes nothing.
          for (const hours of [1e15, Number.MAX_SAFE_INTEGER]) {
            const purge = yield* Effect.promise(() =>
              send(base, {
                method: "POST",
                path: "/dead-letters/purge",
                headers: { "content-type": "application/json" },
                body: JSON.stringify({ resolvedOlderThanHours: hours, unresolvedOlderThanHours: hours }),
                label: ""
              })
            )
            assert.strictEqual(purge.status, 200, `${hours}: ${purge.text}`)
            assert.deepStrictEqual(purge.body, { removed: 0 })
          }
          assert.strictEqual((yield* Effect.promise(() => fetch(`${base}/healthz`))).status, 200)
        }).pipe(Effect.scoped, quiet),
      { timeout: 60_000 }
    )
  })
}

describe("demo API fuzzing: broken HTTP", () => {
  /** Writes raw bytes on a fresh connection; resolves with what came back before the close (or 2 s). */
  const raw = (port: number, bytes: string | Uint8Array) =>
    Effect.async<string>((resume) => {
      const socket = Net.connect(port, "127.0.0.1")
      let received = ""
      const done = () => {
        socket.destroy()
        resume(Effect.succeed(received))
      }
      socket.on("data", (chunk) => (received += chunk.toString("latin1")))
      socket.on("error", done)
      socket.on("close", done)
      socket.setTimeout(2_000, done)
      socket.write(bytes)
    })

  it.live(
    "garbage, truncated and oversized requests on the socket: each answered or closed, the server keeps answering",
    () =>
      Effect.gen(function*() {
        const { base } = yield* start(config(), Backends.sqlite())
        const port = Number(new URL(base).port)
        const cases: ReadonlyArray<string | Uint8Array> = [
          "\u0000\u0001\u0002 garbage\r\n\r\n",
          "GET /healthz HTTP/1.1\r\nHost: x\r\n", // headers never end
          "POST /workflows HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{\"topic\":",
          "POST /workflows HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
          "POST /workflows HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
          "POST /workflows HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nzz\r\n",
          `GET /${"a".repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
          `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(40_000)}\r\n\r\n`,
          "GET /state/%E0%A4%A HTTP/1.1\r\nHost: x\r\n\r\n",
          "GET /state/\u00ff\u00fe HTTP/1.1\r\nHost: x\r\n\r\n",
          new Uint8Array([0xff, 0xfe, 0xfd, 0x0d, 0x0a, 0x0d, 0x0a])
        ]
        for (const bytes of cases) {
          const answer = yield* raw(port, bytes)
          // An answer, if any, is an HTTP status line that is not a 5xx.
          if (answer !== "") assert.notMatch(answer, /^HTTP\/1\.[01] 5\d\d/, answer.slice(0, 200))
        }
        const health = yield* Effect.promise(() => fetch(`${base}/healthz`))
        assert.strictEqual(health.status, 200)
        const snapshot = yield* Effect.promise(async () => (await fetch(`${base}/workflows`)).json() as Promise<any>)
        assert.strictEqual(snapshot.items.length, 0)
      }).pipe(Effect.scoped, quiet),
    { timeout: 60_000 }
  )
})

// The contract names every route the fuzzer walks.
describe("demo API fuzzing: coverage", () => {
  it("walks every endpoint of the contract", () => {
    assert.isAbove(routes.length, 20)
    for (const route of routes) assert.match(route.path, /^\//)
  })
})
