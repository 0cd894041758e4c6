// The source article's allocator (pattern 6), ported line for line for the
// fairness benchmark: equal split on register (priority unused), steals from
// any agent with tokens left (idlest first, then lowest priority, at most
// half of a donor's remaining), partial grants. Time is the simulation's.

interface AgentBudget {
  readonly agentId: string
  allocated: number
  used: number
  readonly priority: number
  lastActivity: number
}

const remaining = (b: AgentBudget) => Math.max(0, b.allocated - b.used)

export class ArticleAllocator {
  private readonly agents = new Map<string, AgentBudget>()
  now = 0

  constructor(readonly totalBudget: number) {}

  registerAgent(agentId: string, priority = 1): void {
    const n = this.agents.size + 1
    const allocation = Math.floor(this.totalBudget / n)
    for (const existing of this.agents.values()) existing.allocated = Math.floor(this.totalBudget / n)
    this.agents.set(agentId, { agentId, allocated: allocation, used: 0, priority, lastActivity: this.now })
  }

  /** Returns the tokens granted (0 when refused). */
  requestTokens(agentId: string, needed: number): number {
    const budget = this.agents.get(agentId)
    if (budget === undefined) return 0
    if (remaining(budget) >= needed) {
      budget.used += needed
      budget.lastActivity = this.now
      return needed
    }
    const stolen = this.trySteal(agentId, needed - remaining(budget))
    const available = remaining(budget) + stolen
    if (available >= needed) {
      budget.used += needed
      budget.allocated += stolen
      budget.lastActivity = this.now
      return needed
    }
    if (available > 0) {
      budget.used += available
      budget.allocated += stolen
      budget.lastActivity = this.now
      return available
    }
    return 0
  }

  private trySteal(requesterId: string, needed: number): number {
    let stolen = 0
    const donors = Array.from(this.agents.values())
      .filter((b) => b.agentId !== requesterId && remaining(b) > 0)
      .sort((a, b) => -(this.now - a.lastActivity) + (this.now - b.lastActivity) || a.priority - b.priority)
    for (const donor of donors) {
      if (stolen >= needed) break
      const stealable = Math.min(Math.floor(remaining(donor) / 2), needed - stolen)
      if (stealable > 0) {
        donor.allocated -= stealable
        stolen += stealable
      }
    }
    return stolen
  }
}
