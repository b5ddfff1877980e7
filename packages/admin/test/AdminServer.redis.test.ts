/**
 * The admin API on a real server (ephemeral port) over the bus on the real Redis: the auth matrix
 * (every route × every kind of principal), bad input answered 400 naming the field, the body
 * size limit, and what each route returns, through the typed client where a client would use it.
 */
import { assert, layer } from "@effect/vitest"
import { Dlq, Metrics } from "@hyvve/bus"
import { Effect, Layer, Ref, Schema } from "effect"
import { FetchHttpClient } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { AdminApi, Audit, Auth } from "../src/index.ts"
import * as Fixture from "./fixtures/AdminFixture.ts"

const client = (token: string) =>
  Effect.flatMap(Fixture.Server, (server) =>
    HttpApiClient.make(AdminApi.AdminApi, { baseUrl: server.url }).pipe(
      Effect.provide(Layer.mergeAll(Auth.layerClient(token), FetchHttpClient.layer))
    ))

const request = (method: string, path: string, options: { token?: string | undefined; body?: string | undefined } = {}) =>
  Effect.flatMap(Fixture.Server, (server) =>
    Effect.promise(async () => {
      const controller = new AbortController()
      const response = await fetch(`${server.url}${path}`, {
        method,
        signal: controller.signal,
        headers: {
          ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
          ...(options.body === undefined ? {} : { "content-type": "application/json" })
        },
        ...(options.body === undefined ? {} : { body: options.body })
      })
      // Event streams do not end: the status is what the matrix needs.
      const text = response.headers.get("content-type")?.startsWith("text/event-stream")
        ? (controller.abort(), "")
        : await response.text()
      return { status: response.status, text }
    })
  )

type Who = "none" | "bad" | "viewer" | "owner" | "admin" | "tenantViewer" | "tenantAdmin"
const tokenOf = (who: Who): string | undefined =>
  who === "none" ? undefined : who === "bad" ? "not-a-known-token" : Fixture.tokens[who]

layer(Fixture.layer("api"), { excludeTestServices: true, timeout: "60 seconds" })("admin API", (it) => {
  it.effect("seeds the DLQ with one entry per tenant and a payload that does not decode", () =>
    Effect.gen(function*() {
      const ids = yield* Fixture.seed([
        { notes: "<script>window.__pwned = 1</script>", tenantId: "ws_a" },
        { notes: "second", tenantId: "ws_b" }
      ])
      assert.strictEqual(ids.length, 2)
      yield* Fixture.seedUndecodable("ws_a")
    }))

  it.effect("auth matrix: 401 without a valid token, 403 without the role or outside the tenant, for every route", () =>
    Effect.gen(function*() {
      const page = yield* (yield* client(Fixture.tokens.admin)).dlq.list({ query: {} })
      const entryA = page.entries.find((entry) => entry.tenantId === "ws_a")!
      const entryB = page.entries.find((entry) => entry.tenantId === "ws_b")!
      assert.isDefined(entryA)
      assert.isDefined(entryB)
      const missing = "1-0"
      const ok = 200
      // Replay jobs over an empty range (they replay nothing), one per tenant, finished.
      const admin = yield* client(Fixture.tokens.admin)
      const jobA = (yield* admin.replay.start({ payload: { tenant: "ws_a", from: 0, to: 1 } })).job.id
      const jobB = (yield* admin.replay.start({ payload: { tenant: "ws_b", from: 0, to: 1, group: Fixture.group } })).job.id
      yield* Fixture.waitUntil(
        "both replay jobs completed",
        Effect.map(Effect.all([admin.replay.get({ params: { jobId: jobA } }), admin.replay.get({ params: { jobId: jobB } })]), (jobs) =>
          jobs.every((view) => view.job.status === "completed")),
        "20 seconds"
      )
      const noJob = "rpl_00000000-0000-0000-0000-000000000000"
      const created = 201
      const noStore = 503
      // Each route with the status for: none, bad, viewer, owner, admin, tenantViewer, tenantAdmin.
      const everyone = [401, 401, ok, ok, ok, ok, ok]
      const mutators = [401, 401, 403, ok, ok, 403, ok]
      const matrix: ReadonlyArray<readonly [string, string, string | undefined, ReadonlyArray<number>]> = [
        ["GET", "/health/events", undefined, [ok, ok, ok, ok, ok, ok, ok]],
        ["GET", "/openapi.json", undefined, [ok, ok, ok, ok, ok, ok, ok]],
        ["GET", "/asyncapi.json", undefined, [ok, ok, ok, ok, ok, ok, ok]],
        ["GET", "/docs", undefined, [ok, ok, ok, ok, ok, ok, ok]],
        ["GET", "/admin", undefined, [ok, ok, ok, ok, ok, ok, ok]],
        ["GET", "/admin/events/stats", undefined, everyone],
        ["GET", "/admin/events/me", undefined, everyone],
        ["GET", "/metrics", undefined, [401, 401, ok, ok, ok, 403, 403]],
        ["GET", "/admin/events/dlq", undefined, everyone],
        ["GET", "/admin/events/dlq?tenant=ws_b", undefined, [401, 401, ok, ok, ok, 403, 403]],
        ["GET", `/admin/events/dlq/${entryA.id}`, undefined, everyone],
        ["GET", `/admin/events/dlq/${entryB.id}`, undefined, [401, 401, ok, ok, ok, 403, 403]],
        ["POST", `/admin/events/dlq/${entryA.id}/retry`, `{"dryRun":true}`, mutators],
        ["POST", `/admin/events/dlq/${entryB.id}/retry`, `{"dryRun":true}`, [401, 401, 403, ok, ok, 403, 403]],
        ["DELETE", `/admin/events/dlq/${missing}`, undefined, [401, 401, 403, 404, 404, 403, 404]],
        // -1: not sent (it would delete the entry the other rows use; the 404 row covers the role).
        ["DELETE", `/admin/events/dlq/${entryB.id}`, undefined, [401, 401, 403, -1, -1, 403, 403]],
        ["POST", "/admin/events/dlq/purge", `{"type":"nothing.matches"}`, mutators],
        ["POST", "/admin/events/dlq/purge", `{"tenant":"ws_b","type":"nothing.matches"}`, [401, 401, 403, ok, ok, 403, 403]],
        ["GET", "/admin/events/live", undefined, everyone],
        ["GET", "/admin/events/live?tenant=ws_b", undefined, [401, 401, ok, ok, ok, 403, 403]],
        ["GET", "/admin/events/tail", undefined, everyone],
        ["GET", "/admin/events/replay", undefined, everyone],
        ["POST", "/admin/events/replay", `{"from":0,"to":1}`, [401, 401, 403, created, created, 403, created]],
        ["POST", "/admin/events/replay", `{"tenant":"ws_b","from":0,"to":1}`, [401, 401, 403, created, created, 403, 403]],
        ["GET", `/admin/events/replay/${jobA}`, undefined, everyone],
        ["GET", `/admin/events/replay/${jobB}`, undefined, [401, 401, ok, ok, ok, 403, 403]],
        ["GET", `/admin/events/replay/${noJob}`, undefined, [401, 401, 404, 404, 404, 404, 404]],
        ["GET", `/admin/events/replay/${jobA}/progress`, undefined, everyone],
        ["GET", `/admin/events/replay/${jobB}/progress`, undefined, [401, 401, ok, ok, ok, 403, 403]],
        // A completed job: cancel answers it as it is, resume is a conflict.
        ["POST", `/admin/events/replay/${jobA}/cancel`, undefined, mutators],
        ["POST", `/admin/events/replay/${jobB}/cancel`, undefined, [401, 401, 403, ok, ok, 403, 403]],
        ["POST", `/admin/events/replay/${jobA}/resume`, undefined, [401, 401, 403, 409, 409, 403, 409]],
        ["POST", `/admin/events/replay/${jobB}/resume`, undefined, [401, 401, 403, 409, 409, 403, 403]],
        ["POST", `/admin/events/replay/${noJob}/cancel`, undefined, [401, 401, 403, 404, 404, 403, 404]],
        // No event store in this server: the history routes say so (their tenant rows run with a store).
        ["GET", "/admin/events/evt_1", undefined, [401, 401, noStore, noStore, noStore, noStore, noStore]],
        ["GET", "/admin/events/trace/cor_1", undefined, [401, 401, noStore, noStore, noStore, noStore, noStore]]
      ]
      const who: ReadonlyArray<Who> = ["none", "bad", "viewer", "owner", "admin", "tenantViewer", "tenantAdmin"]
      const failures: Array<string> = []
      let checked = 0
      for (const [method, path, body, expected] of matrix) {
        for (const [i, principal] of who.entries()) {
          const status = expected[i]!
          if (status === -1) continue // would delete the entry the other rows use
          const response = yield* request(method, path, { token: tokenOf(principal), body })
          checked++
          if (response.status !== status) failures.push(`${method} ${path} as ${principal}: ${response.status}, expected ${status} ${response.text.slice(0, 200)}`)
          if (response.status === 401 || response.status === 403) {
            const error = JSON.parse(response.text)
            if (error._tag !== (response.status === 401 ? "Unauthorized" : "Forbidden")) failures.push(`${method} ${path}: body ${response.text}`)
          }
        }
      }
      assert.deepStrictEqual(failures, [])
      assert.isAtLeast(checked, 235)
      // Nothing was deleted or purged by the matrix.
      assert.strictEqual(yield* Dlq.Dlq.use((dlq) => dlq.size), 3)
    }))

  it.effect("bad input is a 400 naming the field, never a stack trace; bodies over the limit are refused", () =>
    Effect.gen(function*() {
      const token = Fixture.tokens.admin
      const badLimit = yield* request("GET", "/admin/events/dlq?limit=0", { token })
      assert.strictEqual(badLimit.status, 400)
      const problem = JSON.parse(badLimit.text)
      assert.strictEqual(problem.status, 400)
      assert.deepStrictEqual(problem.errors[0].path, ["query", "limit"])
      assert.notInclude(badLimit.text, "    at ")

      const badId = yield* request("GET", "/admin/events/dlq/not-an-id", { token })
      assert.strictEqual(badId.status, 400)
      assert.deepStrictEqual(JSON.parse(badId.text).errors[0].path, ["params", "id"])

      const badBody = yield* request("POST", "/admin/events/dlq/1-0/retry", { token, body: `{"dryRun":"yes"}` })
      assert.strictEqual(badBody.status, 400)
      assert.deepStrictEqual(JSON.parse(badBody.text).errors[0].path, ["payload", "dryRun"])

      const notJson = yield* request("POST", "/admin/events/dlq/purge", { token, body: "{not json" })
      assert.strictEqual(notJson.status, 400)
      assert.notInclude(notJson.text, "    at ")

      const unfiltered = yield* request("POST", "/admin/events/dlq/purge", { token, body: "{}" })
      assert.strictEqual(unfiltered.status, 400)
      assert.deepInclude(JSON.parse(unfiltered.text), { _tag: "InvalidRequest", field: "all" })

      const badBatch = yield* request("POST", "/admin/events/replay", { token, body: `{"batchSize":0}` })
      assert.strictEqual(badBatch.status, 400)
      assert.deepStrictEqual(JSON.parse(badBatch.text).errors[0].path, ["payload", "batchSize"])
      const badTypes = yield* request("POST", "/admin/events/replay", { token, body: `{"types":"approval.approved"}` })
      assert.deepStrictEqual(JSON.parse(badTypes.text).errors[0].path, ["payload", "types"])
      for (
        const [body, field] of [
          [`{"types":["no.such.type"]}`, "types"],
          [`{"group":"no-such-group"}`, "group"],
          [`{"from":2000,"to":1000}`, "from"],
          [`{"pattern":"approval..x"}`, "pattern"]
        ] as const
      ) {
        const response = yield* request("POST", "/admin/events/replay", { token, body })
        assert.strictEqual(response.status, 400, `${body}: ${response.text}`)
        assert.deepInclude(JSON.parse(response.text), { _tag: "InvalidRequest", field }, body)
      }
      const badJob = yield* request("GET", "/admin/events/replay/not-a-job", { token })
      assert.deepStrictEqual(JSON.parse(badJob.text).errors[0].path, ["params", "jobId"])

      const huge = yield* request("POST", "/admin/events/dlq/purge", {
        token,
        body: JSON.stringify({ type: "x".repeat(100 * 1024) })
      })
      assert.isAtLeast(huge.status, 400)
      assert.isBelow(huge.status, 500)
      assert.strictEqual(yield* Dlq.Dlq.use((dlq) => dlq.size), 3)
    }))

  it.effect("stats: stream, groups with consumers and pending, DLQ usage, throughput from entry ids", () =>
    Effect.gen(function*() {
      const api = yield* client(Fixture.tokens.viewer)
      const stats = yield* api.stats.stats()
      assert.strictEqual(stats.stream.length, 3)
      assert.isDefined(stats.stream.firstEntryId)
      assert.isDefined(stats.stream.lastEntryAt)
      // The events were published seconds ago (how many seconds depends on the machine).
      assert.strictEqual(stats.throughput.lastHour, 3)
      assert.strictEqual(stats.throughput.last24h, 3)
      assert.isAtMost(stats.throughput.lastMinute, 3)
      assert.isTrue(stats.throughput.exact)
      assert.strictEqual(stats.throughput.perMinute.length, 60)
      assert.strictEqual(stats.throughput.perMinute.reduce((a, b) => a + b, 0), 3)
      const group = stats.groups.find((g) => g.name === Fixture.group)
      assert.isDefined(group)
      assert.strictEqual(group!.lag, 0)
      assert.strictEqual(group!.pending, 0)
      assert.isAtLeast(group!.consumers.length, 1)
      assert.deepStrictEqual(stats.dlq, { size: 3, maxLength: 10, percent: 30, nearLimit: false })

      // A tenant-scoped principal counts its own tenant's dead letters only.
      const tenant = yield* (yield* client(Fixture.tokens.tenantViewer)).stats.stats()
      assert.strictEqual(tenant.dlq.size, 2)
    }))

  it.effect("DLQ: list with filters and cursor pages, detail decoded or with the decode error", () =>
    Effect.gen(function*() {
      const api = yield* client(Fixture.tokens.admin)
      const first = yield* api.dlq.list({ query: { limit: 1 } })
      assert.strictEqual(first.entries.length, 1)
      assert.isDefined(first.next)
      const second = yield* api.dlq.list({ query: { limit: 1, cursor: first.next! } })
      assert.strictEqual(second.entries.length, 1)
      assert.notStrictEqual(second.entries[0]!.id, first.entries[0]!.id)
      const byTenant = yield* api.dlq.list({ query: { tenant: "ws_b" } })
      assert.deepStrictEqual(byTenant.entries.map((e) => e.tenantId), ["ws_b"])
      assert.strictEqual((yield* api.dlq.list({ query: { group: "no-such-group" } })).entries.length, 0)

      // The tenant-scoped principal lists its tenant only, without asking.
      const scoped = yield* (yield* client(Fixture.tokens.tenantViewer)).dlq.list({ query: {} })
      assert.deepStrictEqual(scoped.entries.map((e) => e.tenantId), ["ws_a", "ws_a"])

      const detail = yield* api.dlq.get({ params: { id: byTenant.entries[0]!.id } })
      assert.isTrue(detail.decodes)
      assert.strictEqual(detail.entry.errorTag, "NonRetryable")
      assert.include(detail.entry.errorMessage, "<b>second</b>")

      // An envelope its schema does not accept: the detail carries the decode error, not a 500.
      const bad = (yield* api.dlq.list({ query: {} })).entries.find((e) => e.errorTag === "InvalidPayload")
      assert.isDefined(bad)
      const badDetail = yield* api.dlq.get({ params: { id: bad!.id } })
      assert.isFalse(badDetail.decodes)
      assert.include(badDetail.decodeError, "decidedById")
      // The typed client checks requests at compile time (never called).
      // @ts-expect-error dryRun is a boolean
      const _wrongType = () => api.dlq.retry({ params: { id: "1-0" }, payload: { dryRun: "yes" } })
      // @ts-expect-error the id is a path parameter, not a payload
      const _noParams = () => api.dlq.delete({ payload: { id: "1-0" } })
      assert.isFunction(_wrongType)
      assert.isFunction(_noParams)
      const missing = yield* api.dlq.get({ params: { id: "1-0" } }).pipe(Effect.flip)
      assert.strictEqual(missing._tag, "NotFound")
    }))

  it.effect("retry: dry run decodes only; a retry re-drives to the failed group, reaches the handler and is audited", () =>
    Effect.gen(function*() {
      const api = yield* client(Fixture.tokens.owner)
      const [entry] = (yield* api.dlq.list({ query: { tenant: "ws_b" } })).entries
      const dry = yield* api.dlq.retry({ params: { id: entry!.id }, payload: { dryRun: true } })
      assert.deepInclude(dry, { dryRun: true, decodes: true, group: Fixture.group })
      assert.isUndefined(dry.newEntryId)

      const handler = yield* Fixture.Handler
      yield* Ref.set(handler.failing, false)
      const done = yield* api.dlq.retry({ params: { id: entry!.id }, payload: {} })
      assert.isDefined(done.newEntryId)
      const eventId = entry!.eventId!
      yield* Effect.gen(function*() {
        while (!(yield* Ref.get(handler.handled)).includes(eventId)) yield* Effect.sleep("50 millis")
      }).pipe(Effect.timeout("20 seconds"))
      yield* Ref.set(handler.failing, true)
      assert.strictEqual(yield* Dlq.Dlq.use((dlq) => dlq.size), 2)

      const records = yield* Audit.Audit.use((audit) => audit.recent(10))
      const retry = records.find((r) => r.action === "dlq.retry" && r.target === entry!.id)
      assert.deepInclude(retry, { outcome: "ok", role: "owner" })
    }))

  it.effect("delete and purge remove entries and are audited; metrics export the bus's counters and gauges", () =>
    Effect.gen(function*() {
      yield* Fixture.seed([{ notes: "three", tenantId: "ws_c" }, { notes: "four", tenantId: "ws_c" }])
      const api = yield* client(Fixture.tokens.admin)
      const entries = (yield* api.dlq.list({ query: { tenant: "ws_c" } })).entries
      assert.strictEqual(entries.length, 2)
      const deleted = yield* api.dlq.delete({ params: { id: entries[0]!.id } })
      assert.deepStrictEqual(deleted, { id: entries[0]!.id, deleted: true })
      const purged = yield* api.dlq.purge({ payload: { tenant: "ws_c" } })
      assert.strictEqual(purged.purged, 1)
      const records = yield* Audit.Audit.use((audit) => audit.recent(10))
      assert.isTrue(records.some((r) => r.action === "dlq.delete" && r.target === entries[0]!.id))
      assert.isTrue(records.some((r) => r.action === "dlq.purge" && r.detail === "1 purged"))

      yield* Metrics.dlqLength(yield* Dlq.Dlq.use((dlq) => dlq.size))
      const text = yield* api.metrics.metrics()
      assert.match(text, /hyvve_events_published_total\{[^}]*type="approval.approved"[^}]*\} \d+/)
      assert.match(text, /hyvve_dlq_size \d+/)
      assert.match(text, new RegExp(`hyvve_consumer_lag\\{[^}]*group="${Fixture.group}"`))
      assert.match(text, new RegExp(`hyvve_oldest_pending_age_ms\\{[^}]*group="${Fixture.group}"`))
    }))

  it.effect("health is public and carries no payloads; the OpenAPI document lists the routes and the bearer scheme", () =>
    Effect.gen(function*() {
      const health = yield* request("GET", "/health/events")
      assert.strictEqual(health.status, 200)
      const body = JSON.parse(health.text)
      assert.isTrue(body.redis.reachable)
      assert.notInclude(health.text, "script")
      assert.notInclude(health.text, "ws_a")
      const openapi = JSON.parse((yield* request("GET", "/openapi.json")).text)
      assert.strictEqual(openapi.openapi, "3.1.0")
      for (const path of ["/admin/events/stats", "/admin/events/dlq", "/admin/events/dlq/{id}/retry", "/metrics"]) {
        assert.property(openapi.paths, path)
      }
      assert.deepInclude(Object.values(openapi.components.securitySchemes), { type: "http", scheme: "Bearer" })
      assert.isTrue(Schema.is(Schema.String)(openapi.info.title))
    }))

  it.effect("the AsyncAPI document has a message per catalog event with its envelope schema, aliases and versions", () =>
    Effect.gen(function*() {
      const doc = JSON.parse((yield* request("GET", "/asyncapi.json")).text)
      assert.strictEqual(doc.asyncapi, "3.0.0")
      const server = yield* Fixture.Server
      assert.strictEqual(doc.channels.events.address, `${server.prefix}:events:main`)
      const approved = doc.components.messages["approval.approved"]
      assert.strictEqual(approved.name, "approval.approved")
      assert.deepStrictEqual(approved["x-aliases"], ["approval.granted", "approval.item.approved"])
      assert.strictEqual(approved["x-version"], "1.0")
      assert.deepStrictEqual(approved["x-previous-versions"].map((v: { version: string }) => v.version), ["0.9"])
      assert.include(approved.payload.required, "data")
      assert.strictEqual(approved.payload.properties.type.const ?? approved.payload.properties.type.enum?.[0], "approval.approved")
      // Every $ref resolves inside the document.
      const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? []
      for (const ref of refs) {
        const path = ref.slice(8, -1).replace(/^#\//, "").split("/")
        let node: unknown = doc
        for (const segment of path) node = (node as Record<string, unknown> | undefined)?.[segment]
        assert.isDefined(node, `unresolved ${ref}`)
      }
      assert.strictEqual(
        doc.operations.publishEvents.messages.length,
        Object.keys(doc.channels.events.messages).length
      )
    }))
})
