/**
 * The bus contract on the in-memory backend under the tagged layouts, with cross-slot steps
 * rejected as a Redis Cluster rejects them (`enforceSlots`): a settle step, a read or a re-drive
 * that touched keys of two hash tags would fail these runs.
 */
import * as EventBusTest from "./contract/EventBusTest.ts"
import { memoryTopologyBackend } from "./fixtures/Harness.ts"

EventBusTest.suite("memory, single with hash tags", memoryTopologyBackend("single", { hashTags: true }), { realTime: false })
EventBusTest.suite("memory, family", memoryTopologyBackend("family"), { realTime: false })
EventBusTest.suite("memory, partitioned:4", memoryTopologyBackend("partitioned:4"), { realTime: false })
EventBusTest.suite("memory, partitioned:4:aggregate", memoryTopologyBackend("partitioned:4:aggregate"), { realTime: false })
