/**
 * The bus contract on a real Redis under the `family` topology: hash-tagged keys, a stream per
 * family, per-stream settlement keys and DLQs, through the Lua scripts the Redis backend runs.
 * (Cross-slot steps are caught by the memory runs with `enforceSlots`, a plain Redis allows them.)
 */
import * as EventBusTest from "./contract/EventBusTest.ts"
import { redisTopologyBackend } from "./fixtures/Harness.ts"

EventBusTest.suite("redis, family", redisTopologyBackend("family"), { realTime: true })
EventBusTest.suite("redis, partitioned:4", redisTopologyBackend("partitioned:4"), { realTime: true })
EventBusTest.suite("redis, partitioned:4:aggregate", redisTopologyBackend("partitioned:4:aggregate"), { realTime: true })
