// Prints, after jest's own summary, the ten slowest suites (where CI time goes, see README) and one
// plain closing line that any CI log reader understands:
//   tests: <passed> passed, <failed> failed, <skipped> skipped
const path = require('path');

class SummaryReporter {
  onRunComplete(_contexts, results) {
    const suites = results.testResults
      .map((r) => ({ file: path.relative(process.cwd(), r.testFilePath), ms: r.perfStats.end - r.perfStats.start }))
      .filter((s) => Number.isFinite(s.ms) && s.ms > 0)
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 10);
    if (suites.length > 1) {
      process.stdout.write('slowest suites:\n');
      for (const s of suites) process.stdout.write(`  ${(s.ms / 1000).toFixed(1).padStart(7)} s  ${s.file}\n`);
    }
    const skipped = results.numPendingTests + results.numTodoTests;
    process.stdout.write(
      `tests: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${skipped} skipped\n`,
    );
  }
}
module.exports = SummaryReporter;
