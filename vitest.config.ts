import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    projects: ["packages/*/vitest.config.ts", "apps/*/vitest.config.ts", "tools/vitest.config.ts"],
    // Two cores: keep parallel files bounded so Postgres suites stay well inside
    // 100 connections (each case holds at most 4 + 1 admin connection).
    maxWorkers: 3,
    minWorkers: 1
  }
})
