#!/usr/bin/env node
// Entry point of the `shadowflow` binary: runs the compiled CLI, and says how to build it when it is missing.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const main = new URL('../dist/agent/src/cli/main.js', import.meta.url)
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('shadowflow: the TypeScript build is missing (dist/). Run `npm install` or `npm run build` in the project root.\n')
  process.exit(2)
}
// A reader that goes away (`shadowflow flows --json | head`) is a normal end of output, not a crash.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', error => { if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0); else throw error })
}
const { runCli } = await import(main.href)
process.exitCode = await runCli(process.argv.slice(2))
