/**
 * Where the integration tests find Redis and Postgres, and the unique key prefix that keeps
 * parallel runs (and the developer's own data) apart. `scripts/run.sh test` exports
 * REDIS_URL / TEST_DATABASE_URL and HYVVE_TEST_RUN; a bare `vitest` falls back to the local
 * servers on their standard ports.
 */
import { randomUUID } from "node:crypto"

export const redisUrl: string = process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379"

export const databaseUrl: string = process.env["TEST_DATABASE_URL"] ??
  "postgres://postgres@127.0.0.1:5432/hyvve_test"

const run = process.env["HYVVE_TEST_RUN"] ?? `dev${process.pid}`

/** A key prefix no other test, run or user shares: `hyvve-test:<run>:<label>:<random>`. */
export const uniquePrefix = (label: string): string => `hyvve-test:${run}:${label}:${randomUUID().slice(0, 8)}`

/**
 * Seed nodes of the test Redis Cluster: `REDIS_CLUSTER_NODES` (`host:port,…`), which
 * `scripts/run.sh test` exports after starting a loopback cluster; undefined when unset.
 */
export const clusterNodes: ReadonlyArray<{ readonly host: string; readonly port: number }> | undefined = (() => {
  const text = process.env["REDIS_CLUSTER_NODES"]
  if (text === undefined || text === "") return undefined
  return text.split(",").map((entry) => {
    const colon = entry.lastIndexOf(":")
    return { host: entry.slice(0, colon).trim(), port: Number(entry.slice(colon + 1)) }
  })
})()

/** In CI the cluster tests must run: a missing cluster fails them instead of skipping them. */
export const clusterRequired: boolean = process.env["CI"] !== undefined && process.env["CI"] !== "" &&
  process.env["CI"] !== "false"
