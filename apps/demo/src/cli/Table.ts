// Plain-text rendering for a terminal: aligned tables and key/value blocks.
// No colours, so the output reads the same in a pipe, a log or a test.

const MAX_CELL = 60

const text = (value: unknown): string => {
  const line = value === undefined || value === null
    ? "-"
    : typeof value === "string"
    ? value
    : typeof value === "number" || typeof value === "boolean"
    ? String(value)
    : JSON.stringify(value)
  return line.replace(/\s+/g, " ").trim()
}

/** A table cell: one line, cut at 60 characters. */
const cell = (value: unknown): string => {
  const line = text(value)
  return line.length > MAX_CELL ? `${line.slice(0, MAX_CELL - 1)}…` : line
}

/** Columns aligned to their widest cell, a rule under the header; an empty table says so. */
export const table = (headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<unknown>>): string => {
  if (rows.length === 0) return "(none)"
  const cells = rows.map((row) => headers.map((_, i) => cell(row[i])))
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]!.length)))
  const line = (values: ReadonlyArray<string>) => values.map((v, i) => v.padEnd(widths[i]!)).join("  ").trimEnd()
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n")
}

/** `key  value` lines, keys aligned, values whole (on one line); a value that is absent is left out. */
export const fields = (entries: ReadonlyArray<readonly [string, unknown]>): string => {
  const present = entries.filter(([, v]) => v !== undefined)
  const width = Math.max(...present.map(([k]) => k.length))
  return present.map(([k, v]) => `${k.padEnd(width)}  ${text(v)}`).join("\n")
}

/** Epoch milliseconds as an ISO-8601 UTC time. */
export const time = (millis: number | undefined): string | undefined =>
  millis === undefined ? undefined : new Date(millis).toISOString()

/** Integer micro-dollars as dollars, exactly (`41` → `$0.000041`). */
export const usd = (micros: number | undefined): string | undefined => {
  if (micros === undefined) return undefined
  const sign = micros < 0 ? "-" : ""
  const abs = Math.abs(Math.round(micros))
  return `${sign}$${Math.floor(abs / 1_000_000)}.${String(abs % 1_000_000).padStart(6, "0")}`
}

/** An integer with thousands separators (`10000000` → `10,000,000`). */
export const count = (n: number | undefined): string | undefined =>
  n === undefined ? undefined : n.toLocaleString("en-US")

/** A ratio as a percentage with one decimal (`0.1234` → `12.3%`). */
export const percent = (ratio: number | undefined): string | undefined =>
  ratio === undefined ? undefined : `${(ratio * 100).toFixed(1)}%`

/** A score with three decimals. */
export const score = (n: number | undefined): string | undefined => n === undefined ? undefined : n.toFixed(3)
