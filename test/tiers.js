// Which jest project each test file belongs to (jest.config.js reads this; test/test-tiers.test.ts
// checks that every test file is listed exactly once and that unit files start no external tool).
//   unit         no external program (helm, nginx, docker-registry, oras, skopeo, openssl...), seconds
//   integration  real tools and servers on 127.0.0.1, and the CLI as a separate process
// A new test file goes in one list; the tier test fails until it does.
module.exports = {
  unit: [
    'architecture-layers',
    'chart-synth',
    'errors-catalogue',
    'inputs-properties',
    'inputs-shipped',
    'inputs-snapshot',
    'oci-errcode',
    'oci-units',
    'reliability-parsers',
    'test-tiers',
    'tree-gzip',
    'tree-publish',
  ],
  integration: [
    'chart-helm',
    'chart-key-order',
    'chart-schema',
    'chart-test-pod',
    'chart-umbrella',
    'cli-contract',
    'docs',
    'integration-check',
    'integration-wasmplugins',
    'oci-auth',
    'oci-client',
    'oci-faults',
    'oci-layers',
    'pull-cli',
    'pull-content',
    'pull-registry',
    'reliability-manifests',
    'reliability-registry',
    'reliability-republish',
    'reliability-server',
    'reliability-tree',
    'repository',
    'serving-cli',
    'serving-config',
    'serving-dockerfile',
    'serving-nginx',
  ],
};
