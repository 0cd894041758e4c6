import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import * as Period from "../src/Period.js"
import * as Reservation from "../src/Reservation.js"

const at = (iso: string) => Date.parse(iso)

describe("Period", () => {
  it("gives calendar months of 28 to 31 days in UTC", () => {
    const feb = Period.windowAt({ unit: "month" }, at("2028-02-29T23:59:59.999Z"))
    assert.deepStrictEqual(feb, { key: "2028-02", start: at("2028-02-01T00:00:00Z"), end: at("2028-03-01T00:00:00Z") })
    const dec = Period.windowAt({ unit: "month" }, at("2026-12-31T12:00:00Z"))
    assert.strictEqual(dec.end, at("2027-01-01T00:00:00Z"))
    assert.strictEqual(Period.length(dec), 31 * 86_400_000)
  })

  it("counts days in the configured time zone, across a daylight-saving change", () => {
    // 2026-03-29 is the day Paris moves from UTC+1 to UTC+2: 23 hours long.
    const day = Period.windowAt({ unit: "day", timeZone: "Europe/Paris" }, at("2026-03-29T12:00:00Z"))
    assert.strictEqual(day.key, "2026-03-29")
    assert.strictEqual(day.start, at("2026-03-28T23:00:00Z"))
    assert.strictEqual(day.end, at("2026-03-29T22:00:00Z"))
    assert.strictEqual(Period.length(day), 23 * 3_600_000)
    // 23:30 UTC on the 31st of December is already January in Paris.
    const month = Period.windowAt({ unit: "month", timeZone: "Europe/Paris" }, at("2026-12-31T23:30:00Z"))
    assert.strictEqual(month.key, "2027-01")
    assert.strictEqual(month.start, at("2026-12-31T23:00:00Z"))
  })

  it.effect("resets when the Clock passes the end of the window", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(at("2026-12-31T23:59:59.000Z"))
      const before = yield* Period.current({ unit: "month" })
      assert.strictEqual(before.key, "2026-12")
      assert.strictEqual(Period.untilReset(before, at("2026-12-31T23:59:59.000Z")), 1_000)
      yield* TestClock.adjust("1 second")
      const after = yield* Period.current({ unit: "month" })
      assert.strictEqual(after.key, "2027-01")
      assert.strictEqual(after.start, before.end)
    }))

  it("refuses a time zone the runtime does not know", () => {
    assert.throws(() => Period.windowAt({ unit: "day", timeZone: "Mars/Olympus" }, 0))
  })
})

describe("Reservation", () => {
  it("charges the actual amount, refunds the rest and reports overage", () => {
    assert.deepStrictEqual(Reservation.settle(1_000, 400), { charged: 400, refunded: 600, overage: 0 })
    assert.deepStrictEqual(Reservation.settle(1_000, 1_250), { charged: 1_250, refunded: 0, overage: 250 })
    assert.deepStrictEqual(Reservation.settleExpired(700), { charged: 700, refunded: 0, overage: 0 })
    assert.throws(() => Reservation.settle(-1, 0))
  })

  it("expires by the Lease rule: held while now < expiresAt", () => {
    assert.isTrue(Reservation.isHeld(100, 99))
    assert.isTrue(Reservation.isExpired(100, 100))
    assert.isTrue(Reservation.fits(100, 60, 40))
    assert.isFalse(Reservation.fits(100, 60, 41))
  })
})
