import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { runConformance } from './index.js';

/** `scripts/conformance DIR [--verbose] [SUITE...]`: prints per-suite counts; exit 1 on any failure. */
function main(argv: string[]): number {
  const verbose = argv.includes('--verbose') || argv.includes('-v');
  const positional = argv.filter((a) => !a.startsWith('-'));
  const [dirArg, ...only] = positional;
  if (dirArg === undefined) {
    process.stderr.write('usage: scripts/conformance DIR [--verbose] [SUITE...]\n  DIR: the buildkit vectors, e.g. ../shared/conformance/buildkit\n');
    return 2;
  }
  const dir = resolve(dirArg);
  if (!existsSync(dir)) {
    process.stderr.write(`conformance: no such folder: ${dir}\n`);
    return 2;
  }
  const summaries = runConformance(dir, only);
  let passed = 0;
  let failed = 0;
  let notApplicable = 0;
  for (const s of summaries) {
    passed += s.passed;
    failed += s.failed;
    notApplicable += s.notApplicable;
    process.stdout.write(`${s.name.padEnd(28)} ${String(s.passed).padStart(5)} passed ${String(s.failed).padStart(5)} failed ${String(s.notApplicable).padStart(4)} n/a\n`);
    const shown = verbose ? s.failures : s.failures.slice(0, 5);
    for (const f of shown) process.stdout.write(`  FAIL ${f.id}${f.detail ? `\n    ${f.detail.split('\n').join('\n    ')}` : ''}\n`);
    if (shown.length < s.failures.length) process.stdout.write(`  ... ${s.failures.length - shown.length} more (--verbose)\n`);
  }
  process.stdout.write(`conformance: ${passed} passed, ${failed} failed, ${notApplicable} not applicable\n`);
  return failed === 0 && passed > 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
