/**
 * The bus contract on a Redis Cluster (REDIS_CLUSTER_NODES, the loopback cluster `npm test`
 * starts): each test's bus prefix is one `{hash tag}`, so every key the bus touches shares a slot,
 * on whichever master that lands.
 */
import * as EventBusTest from "./contract/EventBusTest.ts"
import * as Harness from "./fixtures/Harness.ts"
import { describeCluster } from "./utils/Cluster.ts"

describeCluster("EventBus contract (cluster)", (nodes) =>
  EventBusTest.suite("cluster", Harness.clusterBackend(nodes), { realTime: true }))
