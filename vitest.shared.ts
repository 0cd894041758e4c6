import { defineProject } from "vitest/config"

// Workspace packages resolve to their TypeScript sources through the
// "@agentos/source" export condition, so tests never need a build first.
const conditions = ["@agentos/vitest", "@agentos/source", "module", "node", "development|production"]

export default defineProject({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ["@agentos/source"] } },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000
  }
})
