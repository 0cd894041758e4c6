// The service's configuration, read through Effect `Config` (environment
// variables by default). Every default runs offline on a fresh machine.
import { Redaction } from "@agentos/dlq"
import { Config, ConfigProvider, Duration, Effect, LogLevel, Option, Redacted } from "effect"

export interface AppConfig {
  readonly host: string
  readonly port: number
  readonly dataDir: string
  /** SQLite's `synchronous` pragma (WAL mode): `normal` syncs at WAL checkpoints only; `full` every commit. */
  readonly sqliteSynchronous: "normal" | "full"
  readonly databaseUrl: Option.Option<Redacted.Redacted>
  readonly apiToken: Option.Option<Redacted.Redacted>
  readonly maxBodyBytes: number
  readonly maxQueued: number
  readonly team: boolean
  readonly teamInterval: Duration.Duration
  readonly agents: ReadonlyArray<string>
  readonly drainTimeout: Duration.Duration
  readonly leaseTtl: Duration.Duration
  readonly taskLease: Duration.Duration
  readonly taskPollInterval: Duration.Duration
  readonly taskRetention: Duration.Duration
  readonly tokenBudget: number
  readonly spendLimitMicros: number
  readonly simLatency: Duration.Duration
  readonly simFailureRate: number
  readonly summaryInterval: Duration.Duration
  readonly alertWebhook: Option.Option<string>
  readonly alertBackoff: Duration.Duration
  readonly otlpEndpoint: Option.Option<string>
  readonly openAiKey: Option.Option<Redacted.Redacted>
  readonly anthropicKey: Option.Option<Redacted.Redacted>
  readonly openAiBaseUrl: Option.Option<string>
  readonly openAiModel: Option.Option<string>
  readonly logFormat: "logfmt" | "json" | "pretty"
  readonly logLevel: LogLevel.LogLevel
}

const positiveInt = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.withDefault(fallback),
    Config.validate({ message: `${name} must be a positive integer`, validation: (n) => n > 0 })
  )

const positiveDuration = (name: string, fallback: Duration.Duration) =>
  Config.duration(name).pipe(
    Config.withDefault(fallback),
    Config.validate({ message: `${name} must be a positive duration`, validation: (d) => Duration.toMillis(d) > 0 })
  )

/** Every setting, with its environment variable and default (the README's table). */
export const AppConfig: Config.Config<AppConfig> = Config.all({
  host: Config.string("HOST").pipe(Config.withDefault("127.0.0.1")),
  port: Config.integer("PORT").pipe(
    Config.withDefault(3000),
    Config.validate({ message: "PORT must be 0 (any free port) to 65535", validation: (p) => p >= 0 && p <= 65535 })
  ),
  dataDir: Config.string("AGENTOS_DATA_DIR").pipe(Config.withDefault(".agentos-data")),
  sqliteSynchronous: Config.literal("normal", "full")("AGENTOS_SQLITE_SYNCHRONOUS").pipe(Config.withDefault("normal")),
  databaseUrl: Config.option(Config.redacted("DATABASE_URL")),
  apiToken: Config.option(Config.redacted("AGENTOS_API_TOKEN")).pipe(
    Config.map(Option.filter((token) => Redacted.value(token).length > 0))
  ),
  maxBodyBytes: positiveInt("AGENTOS_MAX_BODY_BYTES", 64 * 1024),
  maxQueued: positiveInt("AGENTOS_MAX_QUEUED", 200),
  team: Config.boolean("AGENTOS_TEAM").pipe(Config.withDefault(true)),
  teamInterval: Config.duration("AGENTOS_TEAM_INTERVAL").pipe(Config.withDefault(Duration.seconds(3))),
  agents: Config.array(Config.string(), "AGENTOS_AGENTS").pipe(
    Config.withDefault(["lead", "analyst", "writer"]),
    Config.validate({
      message: "AGENTOS_AGENTS must name 1-50 agents of [A-Za-z0-9_-]",
      validation: (agents) => agents.length > 0 && agents.length <= 50 && agents.every((a) => /^[\w-]{1,64}$/.test(a))
    })
  ),
  drainTimeout: Config.duration("AGENTOS_DRAIN_TIMEOUT").pipe(Config.withDefault(Duration.seconds(10))),
  leaseTtl: Config.duration("AGENTOS_LEASE_TTL").pipe(Config.withDefault(Duration.seconds(15))),
  taskLease: positiveDuration("AGENTOS_TASK_LEASE", Duration.seconds(30)),
  taskPollInterval: positiveDuration("AGENTOS_TASK_POLL_INTERVAL", Duration.seconds(1)),
  taskRetention: positiveDuration("AGENTOS_TASK_RETENTION", Duration.hours(1)),
  tokenBudget: positiveInt("AGENTOS_TOKEN_BUDGET", 50_000_000),
  spendLimitMicros: positiveInt("AGENTOS_SPEND_LIMIT_MICROS", 20_000_000),
  simLatency: Config.duration("AGENTOS_SIM_LATENCY").pipe(Config.withDefault(Duration.millis(150))),
  simFailureRate: Config.number("AGENTOS_SIM_FAILURE_RATE").pipe(
    Config.withDefault(0.03),
    Config.validate({ message: "AGENTOS_SIM_FAILURE_RATE must be in [0, 1]", validation: (r) => r >= 0 && r <= 1 })
  ),
  summaryInterval: Config.duration("AGENTOS_SUMMARY_INTERVAL").pipe(Config.withDefault(Duration.seconds(5))),
  alertWebhook: Config.option(Config.string("AGENTOS_ALERT_WEBHOOK")),
  alertBackoff: Config.duration("AGENTOS_ALERT_BACKOFF").pipe(Config.withDefault(Duration.millis(500))),
  otlpEndpoint: Config.option(Config.string("OTEL_EXPORTER_OTLP_ENDPOINT")),
  openAiKey: Config.option(Config.redacted("OPENAI_API_KEY")),
  anthropicKey: Config.option(Config.redacted("ANTHROPIC_API_KEY")),
  openAiBaseUrl: Config.option(Config.string("OPENAI_BASE_URL")),
  openAiModel: Config.option(Config.string("AGENTOS_OPENAI_COMPATIBLE_MODEL")),
  logFormat: Config.literal("logfmt", "json", "pretty")("AGENTOS_LOG_FORMAT").pipe(
    Config.withDefault("logfmt" as const)
  ),
  logLevel: Config.logLevel("AGENTOS_LOG_LEVEL").pipe(Config.withDefault(LogLevel.Info))
})

/** Every setting at its default (nothing set in the environment): the base tests and benchmarks override. */
export const defaults = (): AppConfig =>
  Effect.runSync(Effect.withConfigProvider(AppConfig, ConfigProvider.fromMap(new Map())))

/**
 * The values of the configured secrets: the API token, the providers' keys
 * and the database URL's password. Config keeps them `Redacted`, so they never
 * print as themselves; these are the texts that must appear in no log, dead
 * letter, stored row or response, whatever quotes them (a provider's error
 * message often quotes the key it was sent).
 */
export const secretValues = (config: AppConfig): ReadonlyArray<string> => {
  const values = [config.apiToken, config.openAiKey, config.anthropicKey].flatMap((secret) =>
    Option.isSome(secret) ? [Redacted.value(secret.value)] : []
  )
  if (Option.isSome(config.databaseUrl)) {
    try {
      const password = decodeURIComponent(new URL(Redacted.value(config.databaseUrl.value)).password)
      values.push(password)
    } catch {
      // Not a URL with a password: nothing more to hide.
    }
  }
  // Longest first, so a secret that contains another is masked whole.
  return [...new Set(values.filter((value) => value.length > 0))].sort((a, b) => b.length - a.length)
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/**
 * The dead letter queue's redaction hook: the dlq's default keys and patterns
 * (`apiKey` fields, `sk-…` keys, bearer tokens…) and every configured secret
 * wherever it appears inside a string.
 */
export const redaction = (config: AppConfig): Redaction.Redact =>
  Redaction.make({
    patterns: [
      ...Redaction.defaultPatterns,
      ...secretValues(config).map((secret) => new RegExp(escapeRegExp(secret), "g"))
    ]
  })

/** The same masking for free text (log lines): the configured secrets and the dlq's default patterns. */
export const redactText = (config: AppConfig): (text: string) => string => {
  const redact = redaction(config)
  return (text) => redact(text, "error") as string
}
