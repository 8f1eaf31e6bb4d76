#!/usr/bin/env node
// The `strata` command of an installed @strata/cli (npm install -g @strata/cli,
// or from packed tarballs): runs the compiled CLI with the installed packages.
// A clone of the repository uses bin/strata at its root instead (the bundle
// with a V8 code cache; see docs/ARCHITECTURE.md, "The CLI").
import { runProcess } from '../dist/index.js';

await runProcess(process.argv.slice(2));
