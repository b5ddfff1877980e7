/**
 * Replay across the streams of the `family` topology on a real Redis: the server-side copy (the
 * Lua step over one stream, its redeliver streams and its recorded progress) runs once per
 * stream, and the jobs kept in Redis record a cursor per stream. With a PostgreSQL archive,
 * events of three streams that share entry ids are each replayed once, whatever the page size.
 */
import { assert, describe, it } from "@effect/vitest"
import { Consumer, EventBus, Publisher, RedisStream, Replay } from "@hyvve/bus"
import { Catalog, EventType } from "@hyvve/schema"
import { Effect, Schema, type Scope } from "effect"
import { ctx } from "./fixtures/events.ts"
import * as ArchiveTies from "./fixtures/ArchiveTies.ts"
import * as Harness from "./fixtures/Harness.ts"
import * as PgStore from "./fixtures/PgStore.ts"
import * as Wait from "./fixtures/Wait.ts"
import { redisUrl, uniquePrefix } from "./utils/TestEnv.ts"

const Alpha = EventType.make("alpha.happened", Schema.Struct({ seq: Schema.Int }))
const Beta = EventType.make("beta.happened", Schema.Struct({ seq: Schema.Int }))
const catalog = Catalog.make([Alpha, Beta])
const Gamma = EventType.make("gamma.happened", Schema.Struct({ seq: Schema.Int }))
// The archive scenarios: three families, three streams.
const ties = [Alpha.type, Beta.type, Gamma.type] as const
const tiesCatalog = Catalog.make([Alpha, Beta, Gamma])

describe("Replay across streams (redis, family)", () => {
  const backend = Harness.redisTopologyBackend("family", { catalog, hashTags: true })
  const prefix = uniquePrefix("replay-family")

  it.live("two families into one group and to every matching group: filters exact, each event once, per-stream order", () =>
    Effect.gen(function*() {
      const seen: Array<{ readonly id: string; readonly type: string; readonly replayed: boolean }> = []
      yield* Consumer.handle(
        "*.happened",
        (e) => Effect.sync(() => void seen.push({ id: e.id, type: e.type, replayed: e.replay !== undefined })),
        { group: "audit", catalog }
      )
      const betas: Array<string> = []
      yield* Consumer.handle(Beta, (e) => Effect.sync(() => void betas.push(e.id)), { group: "beta-only" })
      const seqs = (from: number, count: number) => Array.from({ length: count }, (_, i) => ({ seq: from + i }))
      const publish = <T extends EventType.Any>(type: T, payloads: ReadonlyArray<EventType.Payload<T>>, tenant: string) =>
        Effect.forEach(payloads, (payload) => Publisher.publish(type, payload, ctx(tenant)))
      const alpha = yield* publish(Alpha, seqs(0, 12), "t1")
      yield* publish(Alpha, seqs(12, 5), "t2")
      const beta = yield* publish(Beta, seqs(0, 9), "t1")
      yield* Wait.until("the live events handled", () => seen.length === 26 && betas.length === 9)

      const job = yield* Replay.run({ target: Replay.group("audit"), tenantId: "t1", batchSize: 4, catalog })
      assert.deepStrictEqual([job.status, job.scanned, job.matched, job.replayed], ["completed", 26, 21, 21])
      assert.strictEqual(job.streams?.length, 2)
      yield* Wait.until("the replays handled", () => seen.filter((s) => s.replayed).length === 21)
      const replayed = seen.filter((s) => s.replayed)
      assert.strictEqual(new Set(replayed.map((s) => s.id)).size, 21)
      assert.deepStrictEqual(replayed.filter((s) => s.type === Alpha.type).map((s) => s.id), alpha)
      assert.deepStrictEqual(replayed.filter((s) => s.type === Beta.type).map((s) => s.id), beta)
      assert.strictEqual(betas.length, 9, "a group not targeted sees no replay")

      // Every matching group: `beta-only` gets the beta events, `audit` all of them again.
      const all = yield* Replay.run({ target: Replay.matching, types: [Beta.type], catalog })
      assert.deepStrictEqual([all.status, all.matched], ["completed", 9])
      yield* Wait.until("the second replay handled", () => betas.length === 18 && seen.filter((s) => s.replayed).length === 30)
      assert.deepStrictEqual(betas.slice(9), beta)
      const listed = yield* Replay.list()
      assert.deepStrictEqual(listed.map((j) => j.id), [all.id, job.id])
    }).pipe(
      Effect.provide(backend.bus({ ...Harness.fast, prefix })),
      Effect.ensuring(backend.cleanup(prefix))
    ), 30_000)

  // A bus with a PostgreSQL archive, its keys removed at the end.
  const withArchive = <A, E>(scenario: Effect.Effect<A, E, EventBus.Services | Scope.Scope>) => {
    const tied = uniquePrefix("replay-ties")
    return scenario.pipe(
      Effect.provide(EventBus.layer({
        redis: RedisStream.options(redisUrl, "hyvve-test-replay"),
        bus: { ...Harness.fast, prefix: tied, topology: "family", catalog: tiesCatalog, hashTags: true },
        store: PgStore.layer("replay_ties")
      })),
      Effect.ensuring(backend.cleanup(tied))
    )
  }

  it.live("the PostgreSQL archive: events of three streams that share entry ids are each replayed once, whatever the page size", () =>
    withArchive(ArchiveTies.scenario(ties, tiesCatalog)), 30_000)

  it.live("the PostgreSQL archive: a job cancelled mid-way through ids three streams share resumes with each event replayed once", () =>
    withArchive(ArchiveTies.resumeScenario(ties, tiesCatalog)), 30_000)
})
