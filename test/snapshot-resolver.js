// Keeps every jest snapshot in the top-level __snapshots__/ folder (the project layout asks for it).
const path = require('path');
const root = path.join(__dirname, '..', '__snapshots__');
module.exports = {
  resolveSnapshotPath: (testPath, ext) => path.join(root, path.basename(testPath) + ext),
  resolveTestPath: (snapshotPath, ext) => path.join(__dirname, path.basename(snapshotPath).slice(0, -ext.length)),
  testPathForConsistencyCheck: path.join(__dirname, 'example.test.ts'),
};
