#!/usr/bin/env node
// Runs the compiled CLI (npm run build writes dist/).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write("connaudit: dist/ is missing. Run 'npm run build' in the connaudit folder first.\n");
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
