/**
 * Builds the publishable packages into their `dist/` folders (`npm run build`; also each package's
 * `prepack`): a clean `tsc -b` (ESM `.js`, `.d.ts`, source and declaration maps), then two steps tsc
 * does not do:
 *
 * - declaration files get `.js` relative import paths: `rewriteRelativeImportExtensions` rewrites
 *   the emitted JavaScript only, and a `.d.ts` importing `./X.ts` does not resolve for a user's
 *   `tsc` (same length, so the declaration maps stay exact);
 * - assets beside the sources (the Lua scripts of the Redis backend) are copied, whatever their
 *   number: every non-TypeScript file under `src/` lands at the same place under `dist/`.
 */
import { execFileSync } from "node:child_process"
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
// `node scripts/build.ts [name...]`: the named packages (a package's prepack names itself), else all.
// tsc -b brings their references up to date too; only the named ones are built from clean.
const all = ["schema", "bus", "admin", "cli"].map((name) => join(root, "packages", name))
const packages = process.argv.length > 2 ? process.argv.slice(2).map((name) => join(root, "packages", name)) : all

const files = (dir: string): Array<string> =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))

const relativeTs = /(\bfrom\s*|\bimport\s*\(\s*)(["'])(\.\.?\/[^"'\n]*?)\.ts\2/g

for (const pkg of packages) rmSync(join(pkg, "dist"), { recursive: true, force: true })

const tsc = join(root, "node_modules", "typescript", "bin", "tsc")
execFileSync(process.execPath, [tsc, "-b", ...packages.map((pkg) => join(pkg, "tsconfig.build.json"))], {
  stdio: "inherit"
})

// Every dist, references built on the way included (idempotent for those already done).
for (const pkg of all) {
  const src = join(pkg, "src")
  const dist = join(pkg, "dist")
  if (!existsSync(dist)) continue
  for (const file of files(dist)) {
    if (!file.endsWith(".d.ts")) continue
    const text = readFileSync(file, "utf8")
    const rewritten = text.replace(relativeTs, "$1$2$3.js$2")
    if (rewritten !== text) writeFileSync(file, rewritten)
  }
  for (const file of files(src)) {
    if (file.endsWith(".ts")) continue
    cpSync(file, join(dist, relative(src, file)))
  }
}
