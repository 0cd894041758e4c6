// bench/results/reliability.json: the figures of the reliability scripts
// (`pnpm chaos`, `pnpm overload`). Each script replaces its own figures —
// those whose names start with one of its prefixes — and keeps the others'.
import { Bench } from "@agentos/testkit"

/** Writes `figures` in place of the file's figures named with any of `prefixes`; returns the file's path. */
export const write = (
  command: string,
  prefixes: ReadonlyArray<string>,
  figures: ReadonlyArray<Bench.Figure>
): string => {
  const kept = Bench.readFigures("reliability").filter((f) => !prefixes.some((prefix) => f.name.startsWith(prefix)))
  return Bench.writeResults("reliability", command, [...kept, ...figures])
}
