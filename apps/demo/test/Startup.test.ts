// The window between the server listening and the app being attached: a
// request in it is answered 503 in the documented shape, never left hanging.
import { assert, describe, it } from "@effect/vitest"
import type * as Net from "node:net"
import { createStartingServer } from "../src/Server.js"

describe("demo server while starting", () => {
  it("answers 503 until the app is attached, then only the app answers", async () => {
    const server = createStartingServer()
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const url = `http://127.0.0.1:${(server.address() as Net.AddressInfo).port}/healthz`
    try {
      const starting = await fetch(url, { signal: AbortSignal.timeout(5_000) })
      assert.strictEqual(starting.status, 503)
      assert.strictEqual(starting.headers.get("retry-after"), "1")
      assert.deepStrictEqual(await starting.json(), {
        _tag: "Unavailable",
        message: "the service is starting or stopping"
      })
      server.on("request", (_request, response) => {
        response.writeHead(200, { "content-type": "application/json" })
        response.end("{\"status\":\"ok\"}")
      })
      const started = await fetch(url, { signal: AbortSignal.timeout(5_000) })
      assert.strictEqual(started.status, 200)
      assert.deepStrictEqual(await started.json(), { status: "ok" })
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
