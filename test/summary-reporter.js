// Prints one plain closing line that any CI log reader understands, after jest's own summary:
//   tests: <passed> passed, <failed> failed, <skipped> skipped
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    process.stdout.write(
      `tests: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${skipped} skipped\n`,
    );
  }
}
module.exports = SummaryReporter;
