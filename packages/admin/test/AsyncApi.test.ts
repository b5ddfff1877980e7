/**
 * The AsyncAPI document of the platform catalog, read by the AsyncAPI initiative's own parser
 * (`@asyncapi/parser`, which validates against the AsyncAPI 3 JSON Schema and its rule set): no
 * errors, every catalog event a message of the channel with its payload schema.
 */
import { Parser } from "@asyncapi/parser"
import { assert, describe, it } from "@effect/vitest"
import { Catalog } from "@hyvve/schema"
import { Effect } from "effect"
import { AsyncApi } from "../src/index.ts"

describe("AsyncAPI", () => {
  it.live("the platform catalog's document parses and validates with @asyncapi/parser, without errors", () =>
    Effect.gen(function*() {
      const document = AsyncApi.make(Catalog.platform, { address: "hyvve:events:main" })
      const { document: parsed, diagnostics } = yield* Effect.promise(() => new Parser().parse(JSON.stringify(document)))
      // Severity 0 is an error; warnings and hints (e.g. a missing contact) do not make it invalid.
      const errors = diagnostics.filter((d) => d.severity === 0).map((d) => `${d.path.join(".")}: ${d.message}`)
      assert.deepStrictEqual(errors, [])
      assert.isDefined(parsed)
      assert.strictEqual(parsed!.version(), "3.0.0")
      const channel = parsed!.channels().get("events")
      assert.isDefined(channel)
      assert.strictEqual(channel!.address(), "hyvve:events:main")
      const names = channel!.messages().all().map((message) => message.name())
      assert.strictEqual(names.length, Catalog.platform.events.length)
      assert.include(names, "approval.approved")
      const approved = channel!.messages().all().find((message) => message.name() === "approval.approved")!
      assert.include(approved.payload()?.required() ?? [], "data")
    }))

  it.live("a broken document is refused by the same parser (the check can fail)", () =>
    Effect.gen(function*() {
      const document = { ...AsyncApi.make(Catalog.platform, { address: "x" }), channels: "not an object" }
      const { diagnostics } = yield* Effect.promise(() => new Parser().parse(JSON.stringify(document)))
      assert.isAbove(diagnostics.filter((d) => d.severity === 0).length, 0)
    }))
})
