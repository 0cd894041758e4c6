// The tools project checks built packages (their dist/ and their tarballs):
// build every package once before its files run, so that no two checks
// build the same package at the same time. A no-op when turbo's cache holds
// the build (CI builds before it tests).
import { execFileSync } from "node:child_process"
import { root } from "../src/workspace.js"

export default function setup(): void {
  try {
    execFileSync("pnpm", ["exec", "turbo", "run", "build", "--output-logs=errors-only"], {
      cwd: root,
      stdio: ["ignore", "inherit", "inherit"]
    })
  } catch {
    throw new Error("pnpm build failed (turbo's output is above): the tools checks need every package built")
  }
}
