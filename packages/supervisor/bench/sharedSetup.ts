// What bench/shared.ts and bench/sharedCounts.ts share: where the runner
// script is, the clock and sleep of the coordinator, the two schemas of a run
// (ours, reached through a search_path in the URL; graphile-worker's, named
// to it) and their removal, and how a script's main ends the process.
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import type pg from "pg"

export const packageDir = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
export const runnerPath = Path.join(packageDir, "bench", "sharedRunner.ts")
export const now = () => performance.timeOrigin + performance.now()
export const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

/** The schemas of one run, unique to the process: `<prefix>_sup_…` (ours) and `<prefix>_gw_…` (graphile-worker). */
export const schemas = (prefix: string) => {
  const suffix = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`
  return { ours: `${prefix}_sup_${suffix}`, graphile: `${prefix}_gw_${suffix}` }
}

/** The database URL with its search_path set to `schema`. */
export const withSearchPath = (baseUrl: string, schema: string) => {
  const url = new URL(baseUrl)
  url.searchParams.set("options", `-c search_path=${schema}`)
  return url.toString()
}

export const dropSchemas = async (admin: pg.Client, names: ReadonlyArray<string>) => {
  for (const name of names) await admin.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`)
}

/** Runs a script's main and exits: 0 when it resolved, 1 (the error printed) when it rejected. */
export const runMain = (main: () => Promise<void>) =>
  main().then(() => process.exit(0), (error) => {
    console.error(error)
    process.exit(1)
  })
