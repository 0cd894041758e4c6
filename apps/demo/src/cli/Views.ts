// What the CLI reads from the routes the contract declares as free JSON
// (dead letters, the budget dashboard, a routing explanation, a recall): only
// the fields its tables show. Extra fields pass through untouched to `--json`.
import { Schema } from "effect"

const Failure = Schema.Struct({ tag: Schema.String, message: Schema.String })

export const Letter = Schema.Struct({
  id: Schema.String,
  source: Schema.String,
  taskType: Schema.String,
  dedupeKey: Schema.optional(Schema.String),
  workflow: Schema.optional(Schema.Struct({
    id: Schema.String,
    name: Schema.optional(Schema.String),
    step: Schema.optional(Schema.String)
  })),
  attempts: Schema.Number,
  replays: Schema.Number,
  payload: Schema.optional(Schema.Unknown),
  error: Failure,
  firstAttemptAt: Schema.optional(Schema.Number),
  lastAttemptAt: Schema.optional(Schema.Number),
  createdAt: Schema.Number,
  resolution: Schema.optional(Schema.Struct({
    kind: Schema.String,
    at: Schema.Number,
    note: Schema.String
  }))
})
export type Letter = typeof Letter.Type

export const LetterPage = Schema.Struct({
  letters: Schema.Array(Letter),
  nextCursor: Schema.optional(Schema.String)
})

export const ReplayResult = Schema.Union(
  Schema.Struct({ _tag: Schema.Literal("Succeeded"), letter: Letter }),
  Schema.Struct({ _tag: Schema.Literal("Failed"), letter: Letter, failure: Failure })
)

const AgentBudget = Schema.Struct({
  id: Schema.String,
  weight: Schema.Number,
  allocated: Schema.Number,
  used: Schema.Number,
  reserved: Schema.Number,
  remaining: Schema.Number,
  lent: Schema.Number,
  borrowed: Schema.Number,
  utilisation: Schema.Number
})

export const Dashboard = Schema.Struct({
  team: Schema.String,
  period: Schema.String,
  total: Schema.Number,
  allocated: Schema.Number,
  used: Schema.Number,
  reserved: Schema.Number,
  remaining: Schema.Number,
  utilisation: Schema.Number,
  overage: Schema.Number,
  outstandingReservations: Schema.Number,
  steals: Schema.Number,
  reclaims: Schema.Number,
  agents: Schema.Array(AgentBudget)
})

const Rejection = Schema.Struct({
  model: Schema.String,
  reasons: Schema.Array(Schema.String),
  estimatedCost: Schema.optional(Schema.Number),
  estimatedLatencyMillis: Schema.optional(Schema.Number)
})
export type Rejection = typeof Rejection.Type

export const Explained = Schema.Union(
  Schema.Struct({
    chosen: Schema.String,
    decision: Schema.Struct({
      model: Schema.Struct({ name: Schema.String, provider: Schema.String }),
      estimatedCost: Schema.Number,
      estimatedLatencyMillis: Schema.Number,
      inputTokens: Schema.Number,
      outputTokens: Schema.Number,
      complexity: Schema.String,
      reference: Schema.optional(Schema.Struct({ model: Schema.String, estimatedCost: Schema.Number })),
      saving: Schema.optional(Schema.Number),
      rejected: Schema.Array(Rejection)
    })
  }),
  Schema.Struct({ chosen: Schema.Null, rejections: Schema.Array(Rejection) })
)

const Term = Schema.Struct({ value: Schema.Number, weight: Schema.Number, contribution: Schema.Number })

const Explanation = Schema.Struct({
  importance: Term,
  decay: Term,
  recency: Term,
  frequency: Term,
  relevance: Schema.optional(Term),
  weighted: Schema.Number,
  floor: Schema.Number,
  floored: Schema.Boolean
})
export type Explanation = typeof Explanation.Type

const MemoryEntry = Schema.Struct({
  id: Schema.String,
  type: Schema.String,
  text: Schema.String,
  agent: Schema.optional(Schema.String)
})

export const Recall = Schema.Struct({
  memories: Schema.Array(Schema.Struct({
    memory: MemoryEntry,
    score: Schema.Number,
    source: Schema.String,
    explanation: Schema.optional(Explanation)
  })),
  belowCut: Schema.optional(Schema.Array(Schema.Struct({
    memory: MemoryEntry,
    score: Schema.Number,
    undecayedScore: Schema.Number,
    source: Schema.String,
    explanation: Explanation
  })))
})
