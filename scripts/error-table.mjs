// Prints the README's error-code table from the catalogue in agent/src/errors.ts (after `npm run build`), so the
// two never drift: `node scripts/error-table.mjs` and paste; test/unit/error-catalogue.test.ts checks them.
const { ERROR_CODES } = await import(new URL('../dist/agent/src/errors.js', import.meta.url).href)
console.log('| code | meaning |\n|---|---|')
for (const [code, meaning] of Object.entries(ERROR_CODES)) console.log(`| \`${code}\` | ${meaning} |`)
