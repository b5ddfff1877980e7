/**
 * The event store: the contract on memory and on the real PostgreSQL (a schema per test), then
 * what only PostgreSQL shows: migrations that two processes run at once.
 */
import { assert, describe, it } from "@effect/vitest"
import { EventStore } from "@hyvve/bus"
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import * as Pg from "../src/internal/store/pg.ts"
import * as EventStoreTest from "./contract/EventStoreTest.ts"
import * as PgStore from "./fixtures/PgStore.ts"

EventStoreTest.suite("memory", () => EventStore.layerMemory)
EventStoreTest.suite("postgres", () => PgStore.layer("contract"))

describe("EventStore on PostgreSQL", () => {
  it.live("migrations run once when two processes start at once, and again are a no-op", () =>
    Effect.gen(function*() {
      const schema = PgStore.uniqueSchema("migrate")
      yield* PgStore.dropAtEnd(schema)
      // Fresh pools: three processes' worth of connections racing on a fresh schema.
      const once = (n: number) =>
        Effect.flatMap(SqlClient.SqlClient, (sql) =>
          Effect.andThen(sql`SET search_path TO ${sql(schema)}`, Pg.migrate(schema))).pipe(
            Effect.provide(PgStore.client().pipe(Layer.fresh)),
            Effect.map((ran) => [n, ran.length] as const)
          )
      const results = yield* Effect.all([once(1), once(2), once(3)], { concurrency: "unbounded" })
      const ran = results.map(([, count]) => count).sort()
      assert.deepStrictEqual(ran, [0, 0, 1], `migrations applied per process: ${JSON.stringify(results)}`)
      const again = yield* once(4)
      assert.strictEqual(again[1], 0)
      const rows = yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql<{ readonly migration_id: number }>`SELECT migration_id FROM ${sql(schema)}.${sql(Pg.migrationsTable)}`).pipe(
          Effect.provide(PgStore.client())
        )
      assert.deepStrictEqual(rows.map((r) => r.migration_id), [1])
    }), 60_000)
})
