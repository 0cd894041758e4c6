#!/usr/bin/env node
// The `agentos` bin: runs src/cli/main.ts with tsx (the demo app is not
// built), resolving the workspace packages to their sources.
import { spawnSync } from "node:child_process"
import { fileURLToPath, URL } from "node:url"

const main = fileURLToPath(new URL("./main.ts", import.meta.url))
const result = spawnSync(
  process.execPath,
  ["--conditions=@agentos/source", "--import", import.meta.resolve("tsx"), main, ...process.argv.slice(2)],
  { stdio: "inherit" }
)
process.exit(result.status ?? 70)
