// The service's settings for the benchmark and the profile: no built-in team,
// budgets that never run out, a simulated provider with no latency or failures.
import { Duration } from "effect"
import * as Os from "node:os"
import * as Config from "../src/Config.js"
import type { AppConfig } from "../src/Config.js"

export const config: AppConfig = {
  ...Config.defaults(),
  port: 0,
  dataDir: Os.tmpdir(),
  team: false,
  teamInterval: Duration.seconds(1),
  drainTimeout: Duration.seconds(5),
  tokenBudget: 1_000_000_000,
  spendLimitMicros: 1_000_000_000,
  simLatency: Duration.zero,
  simFailureRate: 0,
  summaryInterval: Duration.hours(1)
}
