/**
 * The packages as a user gets them: built (`scripts/build.ts`, run by each package's `prepack`),
 * packed with `pnpm pack`, installed with plain `npm` into a scratch app in the OS temp folder
 * (outside the workspace, so nothing resolves from it) that depends on `effect` itself, at the
 * lowest version the peer range claims. Then:
 *
 * - the tarballs hold the build, the READMEs and the LICENSE, and no tests, benches or `.ts`
 *   import paths;
 * - `npm ls effect` shows one copy;
 * - `app/` (a strict `module: nodenext` config, no `allowImportingTsExtensions`, declarations
 *   checked) compiles, including `@ts-expect-error` lines that only hold while the declarations
 *   are intact, and the quick start of each package README;
 * - the compiled program publishes, handles and dead-letters on the in-memory bus and on Redis
 *   (`REDIS_URL`), on the Node running the tests and on the minimum Node of `engines`, fetched
 *   once from the npm registry into `.cache/toolchain` like `scripts/toolchain.sh` does.
 * - `@hyvve/admin` and `@hyvve/cli`, packed and installed beside them, hold their build and no
 *   sources, and `npx hyvve` runs from the app (its help lists every command; a call to a server
 *   that is not there says so in one line).
 *
 * Needs the npm registry (or npm's cache) for `effect`, `@effect/platform-node`, `ioredis` and
 * `@types/node`.
 */
import { execFile } from "node:child_process"
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"

const root = fileURLToPath(new URL("../..", import.meta.url))
const packages = ["schema", "bus"] as const
// The operator's packages: installed beside the library, their `bin` run from the app.
const tools = ["admin", "cli"] as const
const effectVersion = "4.1.0" // the lowest 4.x of the packages' `effect` peer range (^4.1.0)
const devDependency = (name: string): string => {
  const pkg = JSON.parse(readFileSync(join(root, "packages/admin/package.json"), "utf8"))
  const bus = JSON.parse(readFileSync(join(root, "packages/bus/package.json"), "utf8"))
  const rootPkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"))
  return pkg.devDependencies?.[name] ?? bus.devDependencies?.[name] ?? rootPkg.devDependencies[name]
}
const minimumNode = JSON.parse(readFileSync(join(root, "packages/bus/package.json"), "utf8")).engines.node.replace(
  /^>=\s*/,
  ""
)

// Children run the built packages: the workspace's "@hyvve/source" condition must not reach them.
// Nor does `DATABASE_URL`: the app installs neither `@effect/sql-pg` (an optional peer) nor a
// store, as an application that wants no history does; the bus then runs without one.
const env = (): NodeJS.ProcessEnv => {
  const { DATABASE_URL: _database, NODE_OPTIONS: _, ...rest } = process.env
  return rest
}

interface Run {
  readonly stdout: string
  readonly stderr: string
}

/** Runs a command; rejects with what it printed when it fails or outlives `timeoutMs`. */
const run = (file: string, args: ReadonlyArray<string>, options: { cwd: string; timeoutMs: number }): Promise<Run> =>
  new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { cwd: options.cwd, env: env(), timeout: options.timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error === null) return resolve({ stdout, stderr })
        const what = error.killed ? `timed out after ${options.timeoutMs / 1000} s` : error.message.split("\n")[0]
        reject(
          new Error(
            `${file} ${args.join(" ")} (in ${options.cwd}): ${what}\n--- stdout\n${stdout.slice(-4000)}\n--- stderr\n${stderr.slice(-4000)}`
          )
        )
      }
    )
  })

const files = (dir: string): Array<string> =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))

let scratch = ""
let app = ""
const tarballs: Record<string, string> = {}

describe("installed from the packed tarballs, outside the workspace", () => {
  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), "hyvve-install-"))
    const packed = join(scratch, "tarballs")
    // `pnpm pack` runs each package's prepack (the build) and turns `workspace:^` into a version range.
    for (const name of [...packages, ...tools]) {
      await run("pnpm", ["pack", "--pack-destination", packed], { cwd: join(root, "packages", name), timeoutMs: 120_000 })
      const tarball = readdirSync(packed).find((file) => file.startsWith(`hyvve-${name}-`))
      assert.isDefined(tarball, `pnpm pack wrote no tarball for @hyvve/${name}`)
      tarballs[name] = join(packed, tarball!)
    }
    app = join(scratch, "app")
    cpSync(join(root, "test/install/app"), app, { recursive: true })
    // The quick start of each package README is compiled with the app (not run), so it stays true.
    for (const name of packages) {
      const readme = readFileSync(join(root, "packages", name, "README.md"), "utf8")
      const quickStart = /## Quick start\n[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1]
      assert.isDefined(quickStart, `packages/${name}/README.md has no Quick start code block`)
      writeFileSync(join(app, "src", `quickstart-${name}.ts`), `${quickStart}\nexport {}\n`)
    }
    writeFileSync(
      join(app, "package.json"),
      JSON.stringify(
        {
          name: "hyvve-install-check",
          private: true,
          type: "module",
          dependencies: {
            "@hyvve/bus": `file:${tarballs["bus"]}`,
            "@hyvve/schema": `file:${tarballs["schema"]}`,
            "@hyvve/admin": `file:${tarballs["admin"]}`,
            "@hyvve/cli": `file:${tarballs["cli"]}`,
            "@effect/platform-node": devDependency("@effect/platform-node"),
            effect: effectVersion,
            ioredis: devDependency("ioredis"),
            "@types/node": devDependency("@types/node")
          }
        },
        null,
        2
      )
    )
    await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], {
      cwd: app,
      timeoutMs: 180_000
    })
  }, 300_000)

  afterAll(() => {
    if (scratch !== "" && process.env["HYVVE_TEST_KEEP_INSTALL"] === undefined) {
      rmSync(scratch, { recursive: true, force: true })
    }
  }, 60_000)

  it("the tarballs hold the build and the docs, and no tests, benches or .ts import paths", async () => {
    for (const name of packages) {
      const into = join(scratch, "unpacked", name)
      await run("mkdir", ["-p", into], { cwd: scratch, timeoutMs: 10_000 })
      await run("tar", ["-xzf", tarballs[name]!, "-C", into], { cwd: scratch, timeoutMs: 30_000 })
      const pkg = join(into, "package")
      const listed = files(pkg).map((file) => file.slice(pkg.length + 1))
      for (const required of ["package.json", "README.md", "CHANGELOG.md", "LICENSE", "dist/index.js", "dist/index.d.ts"]) {
        assert.include(listed, required, `@hyvve/${name} tarball lacks ${required}`)
      }
      const unexpected = listed.filter((file) =>
        /(^|\/)(test|tests|bench|src)\//.test(file) || /FINDINGS|\.test\.|tsbuildinfo/.test(file) ||
        (file.endsWith(".ts") && !file.endsWith(".d.ts"))
      )
      assert.deepStrictEqual(unexpected, [], `@hyvve/${name} tarball ships files it should not`)
      const tsImports = listed
        .filter((file) => file.endsWith(".js") || file.endsWith(".d.ts"))
        .flatMap((file) =>
          [...readFileSync(join(pkg, file), "utf8").matchAll(/(?:from\s*|import\s*\(\s*)["']([^"']+\.ts)["']/g)].map(
            (match) => `${file}: ${match[1]}`
          )
        )
      assert.deepStrictEqual(tsImports, [], `@hyvve/${name} ships .ts import paths`)
      const manifest = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8"))
      assert.notInclude(JSON.stringify(manifest.dependencies ?? {}), "workspace:", "workspace: ranges left in the manifest")
      assert.strictEqual(manifest.peerDependencies.effect, "^4.1.0")
    }
    if (files(join(scratch, "unpacked", "bus", "package")).every((file) => !file.endsWith(".lua"))) {
      assert.fail("@hyvve/bus ships no Lua scripts")
    }
  })

  it("the admin and CLI tarballs hold their build and no sources; npx hyvve runs from the app", async () => {
    for (const name of tools) {
      const into = join(scratch, "unpacked", name)
      await run("mkdir", ["-p", into], { cwd: scratch, timeoutMs: 10_000 })
      await run("tar", ["-xzf", tarballs[name]!, "-C", into], { cwd: scratch, timeoutMs: 30_000 })
      const pkg = join(into, "package")
      const listed = files(pkg).map((file) => file.slice(pkg.length + 1))
      for (const required of ["package.json", "README.md", "CHANGELOG.md", "LICENSE", "dist/index.js", "dist/index.d.ts"]) {
        assert.include(listed, required, `@hyvve/${name} tarball lacks ${required}`)
      }
      const unexpected = listed.filter((file) => /(^|\/)(test|src)\//.test(file) || (file.endsWith(".ts") && !file.endsWith(".d.ts")))
      assert.deepStrictEqual(unexpected, [], `@hyvve/${name} tarball ships files it should not`)
    }
    const help = await run("npx", ["--no-install", "hyvve", "--help"], { cwd: app, timeoutMs: 60_000 })
    for (const command of ["stats", "dlq", "tail", "replay", "trace", "event"]) assert.include(help.stdout, command, help.stdout)
    const replayHelp = await run("npx", ["--no-install", "hyvve", "replay", "start", "--help"], { cwd: app, timeoutMs: 60_000 })
    assert.include(replayHelp.stdout, "--batch-size")
    // A real call: nothing listens on port 9, and it says so in one line.
    const down = await run("npx", ["--no-install", "hyvve", "stats", "--url", "http://127.0.0.1:9", "--token", "some-token"], {
      cwd: app,
      timeoutMs: 60_000
    }).then(() => "", (error: Error) => error.message)
    assert.include(down, "cannot reach the admin API at http://127.0.0.1:9")
  }, 150_000)

  it("npm installs one copy of effect, the app's", async () => {
    const { stdout } = await run("npm", ["ls", "effect", "--all"], { cwd: app, timeoutMs: 60_000 })
    const copies = stdout.split("\n").filter((line) => line.includes("effect@"))
    assert.isAbove(copies.length, 1, stdout)
    for (const line of copies) assert.include(line, `effect@${effectVersion}`, stdout)
    assert.strictEqual(copies.filter((line) => !line.includes("deduped")).length, 1, stdout)
  })

  const tsc = join(root, "node_modules/typescript/bin/tsc")

  it("a strict nodenext TypeScript app compiles against the packages' declarations, which have no errors", async () => {
    // tsc exits non-zero for effect's own declaration errors (see app/tsconfig.json) and still emits.
    const out = await run(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: app, timeoutMs: 120_000 }).then(
      (result) => result.stdout,
      (error: Error) => error.message
    )
    const ours = out.split("\n").filter((line) => /error TS/.test(line) && !line.startsWith("node_modules/effect/"))
    assert.deepStrictEqual(ours, [], out.slice(0, 4000))
    assert.isTrue(existsSync(join(app, "dist", "probe.js")), `tsc emitted no dist/probe.js\n${out.slice(0, 4000)}`)
  }, 150_000)

  // The program's own lines (the bus also logs the dead-lettering, at Warning level).
  const expectRun = (out: string) => {
    const lines = out.split("\n").filter((line) => /^(import|memory|redis|after redis):/.test(line) || /^redis \(/.test(line))
    assert.deepStrictEqual(lines, [
      "import: ioredis loaded false, lua files read 0",
      'memory: handled inv_1; dlq 1 billing.invoice_paid group=audit "rejected by audit"',
      'redis (client PONG): handled inv_1; dlq 1 billing.invoice_paid group=audit "rejected by audit"',
      "after redis: ioredis loaded true, lua files read true"
    ])
  }

  it("the compiled app publishes, handles and dead-letters on memory and on Redis, on this Node", async () => {
    const { stdout } = await run(process.execPath, ["dist/probe.js"], { cwd: app, timeoutMs: 60_000 })
    expectRun(stdout)
  }, 90_000)

  it(`... and on the minimum Node of engines (${minimumNode})`, async () => {
    const version = minimumNode.split(".").length === 2 ? `${minimumNode}.0` : minimumNode
    const { stdout: dir } = await run(
      "bash",
      ["-c", `source scripts/toolchain.sh >/dev/null && hyvve_fetch_node ${version}`],
      { cwd: root, timeoutMs: 240_000 }
    )
    const node = join(dir.trim(), "bin", "node")
    const { stdout: reported } = await run(node, ["--version"], { cwd: app, timeoutMs: 10_000 })
    assert.strictEqual(reported.trim(), `v${version}`)
    const { stdout } = await run(node, ["dist/probe.js"], { cwd: app, timeoutMs: 60_000 })
    expectRun(stdout)
  }, 300_000)
})
