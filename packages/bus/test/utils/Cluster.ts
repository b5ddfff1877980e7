/**
 * Runs tests that need the shared test Redis Cluster (`REDIS_CLUSTER_NODES`). Without one they
 * are skipped with a message saying how to get one, except in CI, where they fail.
 */
import { assert, describe, it } from "@effect/vitest"
import { clusterNodes, clusterRequired } from "./TestEnv.ts"

const missing = "REDIS_CLUSTER_NODES is not set: `npm test` starts a loopback Redis Cluster " +
  "(scripts/cluster.sh), or point it at one (host:port,host:port)"

export const describeCluster = (
  name: string,
  body: (nodes: ReadonlyArray<{ readonly host: string; readonly port: number }>) => void
): void => {
  if (clusterNodes !== undefined) {
    body(clusterNodes)
    return
  }
  describe(name, () => {
    if (clusterRequired) it("has a Redis Cluster to run against", () => assert.fail(missing))
    else it.skip(`skipped: ${missing}`, () => {})
  })
}
