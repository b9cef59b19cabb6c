/**
 * Kubernetes 1.28 L1 constructs. `cdk8s import k8s@1.28.0` only downloads its schema from the
 * network, so this project uses the identical generated module that cdk8s-plus-28 ships (generated
 * from the same 1.28 `_definitions.json`). Import from here, never from cdk8s-plus-28 directly, so a
 * later switch to a locally generated module touches one file.
 */
export * from 'cdk8s-plus-28/lib/imports/k8s';
