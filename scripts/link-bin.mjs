// npm does not link a project's own `bin` into its node_modules/.bin; do it, so `node_modules/.bin/shadowflow`
// works like an installed package (npx finds the project bin either way).
import { mkdirSync, rmSync, symlinkSync } from 'node:fs'

mkdirSync('node_modules/.bin', { recursive: true })
rmSync('node_modules/.bin/shadowflow', { force: true })
symlinkSync('../../bin/shadowflow.js', 'node_modules/.bin/shadowflow')
