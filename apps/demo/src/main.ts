// Runs the demo on .agentos-data/demo.db (or AGENTOS_DEMO_DB): pnpm demo
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { layer, program } from "./Demo.js"

const filename = process.env.AGENTOS_DEMO_DB ?? Path.join(".agentos-data", "demo.db")
Fs.mkdirSync(Path.dirname(filename), { recursive: true })

Effect.runPromise(Effect.provide(program, layer(filename))).catch((error) => {
  console.error(error)
  process.exit(1)
})
