/**
 * The monitoring page in a real browser: Debian's chromium (installed by `scripts/run.sh test`
 * as root when missing) driven by playwright-core against an admin server over the bus on the
 * real Redis. The page loads and its numbers match the API; a payload with `<script>` and an
 * error with markup show as text; the DLQ warning shows near the limit; a retry clicked on the
 * page reaches the handler and the page follows; a viewer sees no mutating buttons. A screenshot
 * is saved as `.cache/admin-page.png`.
 *
 * Without chromium this test fails (it does not skip): set HYVVE_CHROMIUM or install it.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { assert, layer } from "@effect/vitest"
import { Dlq } from "@hyvve/bus"
import { Effect, Ref } from "effect"
import { type BrowserContext, chromium, type Page } from "playwright-core"
import * as Fixture from "./fixtures/AdminFixture.ts"

const executablePath = process.env["HYVVE_CHROMIUM"] ?? "/usr/bin/chromium"
const artifacts = fileURLToPath(new URL("../../../.cache", import.meta.url))

// A fresh profile per run, the flags a root CI container needs, closed with the test.
const browser = Effect.acquireRelease(
  Effect.promise(async () => {
    if (!existsSync(executablePath)) {
      throw new Error(
        `chromium not found at ${executablePath}: run the tests through \`npm test\` as root (it installs Debian's chromium), ` +
          "install it with `apt-get install chromium`, or point HYVVE_CHROMIUM at a Chromium binary"
      )
    }
    const profile = mkdtempSync(join(tmpdir(), "hyvve-chromium-"))
    const context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync"
      ]
    })
    return { context, profile }
  }),
  ({ context, profile }) =>
    Effect.promise(async () => {
      await context.close()
      rmSync(profile, { recursive: true, force: true })
    })
)

const open = (context: BrowserContext, url: string, token: string) =>
  Effect.promise(async () => {
    const page = await context.newPage()
    const problems: Array<string> = []
    page.on("console", (message) => void problems.push(`console.${message.type()}: ${message.text()}`))
    page.on("pageerror", (error) => void problems.push(`page error: ${error.message}`))
    page.on("dialog", (dialog) => void dialog.accept())
    await page.goto(`${url}/admin#token=${token}`)
    // Rendered from the first live update.
    try {
      await page.locator("[data-testid=dlq-rows] tr").first().waitFor({ timeout: 20_000 })
    } catch (error) {
      const status = await page.locator("#status").textContent()
      throw new Error(`the page did not render the DLQ (status: ${status}; ${problems.join("; ")})`, { cause: error })
    }
    return page
  })

const text = (page: Page, testid: string) => Effect.promise(() => page.locator(`[data-testid=${testid}]`).textContent())

layer(Fixture.layer("page", { dlqMaxLength: 3 }), { excludeTestServices: true, timeout: "60 seconds" })("monitoring page", (it) => {
  it.effect("shows the API's numbers, escapes payloads, retries from the page, and hides mutations from viewers", () =>
    Effect.gen(function*() {
      const server = yield* Fixture.Server
      const handler = yield* Fixture.Handler
      const [, , retried] = yield* Fixture.seed([
        { notes: "<script>window.__pwned = 1</script>", tenantId: "ws_a" },
        { notes: "plain", tenantId: "ws_a" },
        { notes: "retry me", tenantId: "ws_b" }
      ])
      const { context } = yield* browser
      const page = yield* open(context, server.url, Fixture.tokens.admin)

      // The numbers match the API (3 events, 3 dead letters of a limit of 3: the warning shows).
      assert.strictEqual(yield* text(page, "stream-length"), "3")
      assert.strictEqual(yield* text(page, "dlq-size"), "3 / 3")
      assert.strictEqual(yield* text(page, "rate-hour"), "3")
      assert.strictEqual(yield* Effect.promise(() => page.locator("[data-testid=dlq-rows] tr").count()), 3)
      assert.isTrue(yield* Effect.promise(() => page.locator("[data-testid=dlq-warning]").isVisible()))
      assert.include(yield* text(page, "dlq-warning"), "100.0 %")
      assert.include(yield* text(page, "groups"), Fixture.group)

      // Untrusted text stays text: the error's <b> is not bold, the payload's <script> never ran.
      const rows = yield* text(page, "dlq-rows")
      assert.include(rows, "rejected <b><script>window.__pwned = 1</script></b>")
      yield* Effect.promise(() => page.locator("[data-testid=dlq-rows] tr").first().locator("[data-testid=inspect]").click())
      yield* Effect.promise(() => page.locator("[data-testid=detail]").waitFor({ state: "visible" }))
      assert.include(yield* text(page, "detail"), "<script>window.__pwned = 1</script>")
      assert.strictEqual(yield* Effect.promise(() => page.evaluate(() => Reflect.get(globalThis, "__pwned"))), undefined)
      assert.strictEqual(yield* Effect.promise(() => page.locator("[data-testid=dlq-rows] b, [data-testid=detail] script").count()), 0)

      mkdirSync(artifacts, { recursive: true })
      yield* Effect.promise(() => page.screenshot({ path: join(artifacts, "admin-page.png"), fullPage: true }))

      // A retry clicked on the page reaches the handler, and the next update drops the warning.
      yield* Ref.set(handler.failing, false)
      const row = page.locator("[data-testid=dlq-rows] tr", { hasText: "retry me" })
      yield* Effect.promise(() => row.locator("[data-testid=retry]").click())
      yield* Effect.gen(function*() {
        while (!(yield* Ref.get(handler.handled)).includes(retried!)) yield* Effect.sleep("50 millis")
      }).pipe(Effect.timeout("20 seconds"))
      assert.strictEqual(yield* Dlq.Dlq.use((dlq) => dlq.size), 2)
      yield* Effect.promise(() => page.locator("[data-testid=dlq-warning]").waitFor({ state: "hidden", timeout: 20_000 }))
      assert.strictEqual(yield* text(page, "dlq-size"), "2 / 3")
      assert.include(yield* text(page, "action"), "Retried")

      // A viewer can inspect but sees no retry or delete.
      const viewer = yield* open(context, server.url, Fixture.tokens.viewer)
      assert.isAbove(yield* Effect.promise(() => viewer.locator("[data-testid=inspect]").count()), 0)
      assert.strictEqual(yield* Effect.promise(() => viewer.locator("[data-testid=retry], [data-testid=delete]").count()), 0)
      assert.strictEqual(yield* Effect.promise(() => page.locator("[data-testid=retry]").count()), 2)
    }))
})
