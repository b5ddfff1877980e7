/**
 * The `RedisStream` contract on a Redis Cluster (REDIS_CLUSTER_NODES, a 3-master loopback cluster
 * that `npm test` starts), on wall-clock time. A scenario's keys share a hash tag; the multi-key
 * read spans three slots.
 */
import * as IoRedisClusterStream from "../src/IoRedisClusterStream.ts"
import * as RedisStreamTest from "./contract/RedisStreamTest.ts"
import { describeCluster } from "./utils/Cluster.ts"
import { uniquePrefix } from "./utils/TestEnv.ts"

describeCluster("RedisStream (cluster)", (nodes) =>
  RedisStreamTest.suite("cluster", IoRedisClusterStream.layer({ nodes, connectionName: uniquePrefix("cluster-stream") }), {
    realTime: true
  }))
