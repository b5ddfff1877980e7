/**
 * A replayed event that exhausts its retries, on memory and real Redis: the server copies replays
 * with their envelope as published and the job in the entry's `replay` field, so the handler and
 * the dead letter must both still carry the marker, and a DLQ retry delivers it again as a replay.
 */
import { assert, describe, it } from "@effect/vitest"
import { Consumer, Dlq, Publisher, Replay, Retry } from "@hyvve/bus"
import type { Envelope } from "@hyvve/schema"
import { Effect } from "effect"
import { OrderPlaced, orders } from "./fixtures/events.ts"
import * as Harness from "./fixtures/Harness.ts"
import * as Wait from "./fixtures/Wait.ts"
import { uniquePrefix } from "./utils/TestEnv.ts"

for (const backend of [Harness.memoryBackend, Harness.redisBackend()]) {
  describe(`Replay into the DLQ (${backend.name})`, () => {
    it.live("a server-copied replay keeps its marker in the handler, in the dead letter and when the DLQ retries it", () => {
      const prefix = uniquePrefix("replay-dlq")
      return Effect.gen(function*() {
        yield* Effect.addFinalizer(() => backend.cleanup(prefix))
        const seen: Array<Envelope.Envelope<typeof OrderPlaced>> = []
        let rejectReplays = true
        yield* Consumer.handle(OrderPlaced, (event) =>
          Effect.gen(function*() {
            seen.push(event)
            if (rejectReplays && event.replay !== undefined) {
              return yield* Effect.fail(new Retry.NonRetryable({ message: "replays rejected by the test" }))
            }
          }), { group: "billing" })
        const ids = yield* Publisher.publishBatch(orders(0, 3))
        yield* Wait.until("the originals handled", () => seen.length === 3)

        const job = yield* Replay.run({ target: Replay.group("billing") })
        assert.deepStrictEqual([job.status, job.replayed], ["completed", 3])
        const dlq = yield* Dlq.Dlq
        yield* Wait.until("three dead letters", Effect.map(Effect.orDie(dlq.size), (size) => size === 3))
        const replays = seen.slice(3)
        assert.deepStrictEqual(replays.map((e) => [e.id, e.replay]), ids.map((id) => [id, { jobId: job.id, originalEventId: id }]))

        const letters = (yield* Effect.orDie(dlq.list())).entries
        assert.deepStrictEqual(
          letters.map((letter) => [letter.eventId, (JSON.parse(letter.event) as Envelope.Raw).replay]).sort(),
          ids.map((id) => [id, { jobId: job.id, originalEventId: id }]).sort()
        )

        rejectReplays = false
        assert.strictEqual(yield* Effect.orDie(dlq.retryAll(undefined, { group: "billing" })), 3)
        yield* Wait.until("the dead letters handled again", () => seen.length === 9)
        const retried = seen.slice(6)
        assert.deepStrictEqual(
          retried.map((e) => [e.id, e.replay]).sort(),
          ids.map((id) => [id, { jobId: job.id, originalEventId: id }]).sort()
        )
        yield* Wait.until("the DLQ emptied", Effect.map(Effect.orDie(dlq.size), (size) => size === 0))
      }).pipe(Effect.provide(backend.bus({ ...Harness.fast, prefix })))
    }, 30_000)
  })
}
