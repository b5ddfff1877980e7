import { assert, describe, it } from "@effect/vitest"
import { Option, Schema } from "effect"
import { headerOrder } from "./fixtures.ts"
import {
  ApprovalApproved,
  Catalog,
  Envelope,
  EventPattern,
  EventType,
  UserInvited,
  UserJoined,
  UserLeft,
  WorkspaceCreated
} from "../src/index.ts"

const platformNames = [
  "approval.requested",
  "approval.approved",
  "approval.rejected",
  "approval.escalated",
  "approval.expired",
  "approval.auto_approved",
  "user.invited",
  "user.joined",
  "user.left",
  "workspace.created",
  "workspace.updated",
  "workspace.deleted",
  "agent.started",
  "agent.completed",
  "agent.error",
  "agent.confirmation_requested",
  "audit.logged"
]

interface JsonSchemaNode {
  readonly [key: string]: unknown
}

// Walks every node of a JSON Schema document.
const nodes = function*(node: unknown): Generator<JsonSchemaNode> {
  if (Array.isArray(node)) {
    for (const item of node) yield* nodes(item)
  } else if (typeof node === "object" && node !== null) {
    yield node as JsonSchemaNode
    for (const value of Object.values(node)) yield* nodes(value)
  }
}

describe("Catalog", () => {
  it("the platform catalog has every platform event, each under its own wire name", () => {
    assert.deepStrictEqual<ReadonlyArray<string>>(Catalog.platform.names, platformNames)
    assert.strictEqual(Catalog.platform.events, Catalog.events)
  })

  it("get finds an event type by name", () => {
    assert.deepStrictEqual(Catalog.platform.get("approval.approved"), Option.some(ApprovalApproved))
    assert.deepStrictEqual(Catalog.platform.get("approval.unknown"), Option.none())
  })

  it("match selects the event types a pattern matches", () => {
    assert.deepStrictEqual(Catalog.platform.match("user.**"), [UserInvited, UserJoined, UserLeft])
    assert.deepStrictEqual(Catalog.platform.match("*.approved"), [ApprovalApproved])
    assert.deepStrictEqual(Catalog.platform.match(EventPattern.makeUnsafe("**")), Catalog.events)
    assert.strictEqual(Catalog.platform.match("approval.*").length, 6)
    assert.deepStrictEqual(Catalog.platform.match("billing.*"), [])
    assert.throws(() => Catalog.platform.match("user..*"))
  })

  it("make builds a catalog of any event types and rejects duplicate names", () => {
    const Custom = EventType.make("billing.invoice_paid", Schema.Struct({ invoiceId: Schema.String }))
    const catalog = Catalog.make([...Catalog.events, Custom])
    assert.deepStrictEqual(catalog.get("billing.invoice_paid"), Option.some(Custom))
    assert.deepStrictEqual(catalog.match("workspace.created"), [WorkspaceCreated])
    assert.throws(() => Catalog.make([ApprovalApproved, ApprovalApproved]), /twice/)
  })

  describe("payloads", () => {
    for (const event of Catalog.events) {
      it(`${event.type} has a clean, documented JSON Schema`, () => {
        const document = EventType.jsonSchema(event)
        assert.strictEqual(document.dialect, "draft-2020-12")
        const root = document.schema
        assert.strictEqual(root.type, "object")
        assert.isString(root.description)
        assert.isAbove((root.required as ReadonlyArray<string> | undefined)?.length ?? 0, 0)
        const properties = Object.entries((root.properties ?? {}) as Record<string, JsonSchemaNode>)
        for (const [field, schema] of properties) {
          assert.isString(schema.description, `${event.type}.${field} has a description`)
        }
        const text = JSON.stringify(document)
        assert.notInclude(text, "Infinity", "numbers are finite")
        assert.notInclude(text, "NaN", "numbers are finite")
        for (const node of nodes(document)) {
          assert.isUndefined(node.anyOf, `${event.type}: no anyOf (optional fields are optionalKey)`)
        }
      })
    }

    it("envelope JSON Schemas require the header and fix the type", () => {
      for (const event of Catalog.events) {
        const document = Envelope.jsonSchema(event)
        assert.deepStrictEqual(document.definitions, {})
        const envelope: JsonSchemaNode = document.schema
        assert.deepStrictEqual(envelope.required, [...headerOrder])
        const properties = envelope.properties as Record<string, JsonSchemaNode>
        assert.deepStrictEqual(properties.type?.enum, [event.type])
        assert.deepStrictEqual(properties.version?.enum, [event.version])
      }
    })
  })
})
