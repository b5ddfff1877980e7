/**
 * The bus contract on a Redis Cluster (REDIS_CLUSTER_NODES, the loopback cluster `npm test`
 * starts), twice:
 * - `single` with each test's bus prefix one `{hash tag}`: every key the bus touches shares a
 *   slot, on whichever master that lands;
 * - `family` with the bus's own hash tags: each family's stream and its keys on a slot of their
 *   own, so the streams spread over the masters and any atomic step across two would fail.
 */
import * as EventBusTest from "./contract/EventBusTest.ts"
import * as Harness from "./fixtures/Harness.ts"
import { describeCluster } from "./utils/Cluster.ts"

describeCluster("EventBus contract (cluster)", (nodes) =>
  EventBusTest.suite("cluster", Harness.clusterBackend(nodes), { realTime: true }))

describeCluster("EventBus contract (cluster, family topology)", (nodes) =>
  EventBusTest.suite("cluster family", Harness.clusterBackend(nodes, "family"), { realTime: true }))
