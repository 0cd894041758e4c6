// The operator dashboard: one page at `/` that polls the service's own JSON
// routes and acts on them (replay, resolve). Its assets — the page, its
// script and stylesheet, and Chart.js's UMD build from node_modules — are read
// once when the layer is built and served from memory: no build step, no
// external network.
//
// The page and its assets carry no data, so they are served without the API
// token: a browser cannot send `Authorization` when it navigates. The page
// asks for the token and sends it with every API call. For that the routes
// are answered by an `HttpApiBuilder` middleware that must wrap the token
// check: `Server.ts` provides this layer right after `HttpApiBuilder.serve`,
// so it is built after (and so added outside) the API's own middleware.
import { FileSystem, HttpApiBuilder, HttpServerRequest, HttpServerResponse, Path } from "@effect/platform"
import { Effect, Layer } from "effect"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"

/** One file the dashboard serves. */
export interface Asset {
  readonly path: string
  readonly contentType: string
  readonly body: Uint8Array
}

/** The URL paths of the dashboard: the page and its assets. */
export const paths = {
  page: "/",
  script: "/dashboard/app.js",
  style: "/dashboard/app.css",
  chart: "/dashboard/vendor/chart.umd.min.js"
} as const

// Only what the page needs: its own script and style, JSON from the same origin, no frames.
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache"
}

/** Where Chart.js's self-contained browser build lives (its package exports only its module entries). */
const chartJsFile = (path: Path.Path) => {
  const entry = createRequire(import.meta.url).resolve("chart.js")
  return path.join(path.dirname(entry), "chart.umd.min.js")
}

/** Reads every asset of the page; fails when one is missing (the layer then fails at start). */
export const loadAssets = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "assets")
  const files: ReadonlyArray<readonly [string, string, string]> = [
    [paths.page, path.join(dir, "index.html"), "text/html; charset=utf-8"],
    [paths.script, path.join(dir, "app.js"), "text/javascript; charset=utf-8"],
    [paths.style, path.join(dir, "app.css"), "text/css; charset=utf-8"],
    [paths.chart, chartJsFile(path), "text/javascript; charset=utf-8"]
  ]
  const assets = new Map<string, Asset>()
  for (const [urlPath, file, contentType] of files) {
    assets.set(urlPath, { path: urlPath, contentType, body: yield* fs.readFile(file) })
  }
  return assets as ReadonlyMap<string, Asset>
})

/** Answers GET of the dashboard's paths; passes every other request on. */
export const middleware = (assets: ReadonlyMap<string, Asset>) => (app: Parameters<HttpApiMiddleware>[0]) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const asset = request.method === "GET" ? assets.get(request.url.split("?")[0]!) : undefined
    if (asset === undefined) return yield* app
    return HttpServerResponse.uint8Array(asset.body, { contentType: asset.contentType, headers: SECURITY_HEADERS })
  })

type HttpApiMiddleware = HttpApiBuilder.MiddlewareFn<never>

/**
 * The dashboard's routes added to the server of `HttpApiBuilder.serve`;
 * needs `FileSystem` and `Path` (the Node HTTP server's layer provides them).
 */
export const layer = HttpApiBuilder.middleware(
  Effect.map(loadAssets, (assets) => middleware(assets) as HttpApiMiddleware)
).pipe(Layer.orDie)
