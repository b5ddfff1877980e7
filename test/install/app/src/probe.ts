/**
 * The entry point: imports `@hyvve/bus` and checks that this alone neither loads ioredis nor reads
 * a Lua file (the in-memory bus needs neither), then runs the scenarios of `main.ts`, after which
 * both have happened (which shows the probe can see them).
 */
import fs from "node:fs"
import { createRequire, syncBuiltinESMExports } from "node:module"

const luaReads: Array<string> = []
const readFileSync = fs.readFileSync
fs.readFileSync = ((...args: Parameters<typeof readFileSync>) => {
  if (String(args[0]).endsWith(".lua")) luaReads.push(String(args[0]))
  return readFileSync(...args)
}) as typeof readFileSync
syncBuiltinESMExports()

const ioredisLoaded = () => Object.keys(createRequire(import.meta.url).cache).some((path) => path.includes("/ioredis/"))

await import("@hyvve/bus")
await import("@hyvve/schema")
console.log(`import: ioredis loaded ${ioredisLoaded()}, lua files read ${luaReads.length}`)

const { main } = await import("./main.js")
await main()
console.log(`after redis: ioredis loaded ${ioredisLoaded()}, lua files read ${luaReads.length > 0}`)
