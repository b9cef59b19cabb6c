/**
 * Published image tags are immutable (the Higress release workflow's rule): a tag that already exists
 * in the target registry with another digest fails the release before anything is tagged. Asked
 * through the project's own registry client (the full manifest Accept list, Docker config credentials
 * and credential helpers, plain HTTP only for the hosts named).
 */
import { createRegistryClient } from '../../src/oci/client';
import { isDigest } from '../../src/contract/digest';
import { parseOciReference } from '../../src/inputs/reference';
import { ReleaseError } from './errors';

/** What the registry holds under the tag: nothing yet, or already this release's digest. */
export type TagState = 'new' | 'unchanged';

/**
 * Resolves `image:tag` in its registry: `new` when the tag does not exist, `unchanged` when it names
 * `digest` already (a re-run of the same release); any other digest is refused (exit 2).
 */
export async function checkTag(
  image: string,
  digest: string,
  opts: { insecureRegistries?: string[] } = {},
): Promise<TagState> {
  const parsed = parseOciReference(image.replace(/^(docker|oci):\/\//, ''));
  if (!parsed.ok || !parsed.ref.tag || parsed.ref.digest)
    throw new ReleaseError({
      code: 'E_RELEASE_INPUT',
      message: `${image} is not <registry>/<repository>:<tag>`,
      hint: 'pass the image reference the release pushes, e.g. registry.example/higress/plugin-server:2.2.4',
    });
  if (!isDigest(digest))
    throw new ReleaseError({
      code: 'E_RELEASE_INPUT',
      message: `${digest} is not a sha256:<64 hex> digest`,
      hint: "pass the digest of the image index the build pushed (build-push-action's digest output)",
    });
  const { registry, close } = createRegistryClient({ insecureHosts: opts.insecureRegistries });
  try {
    const existing = await registry.manifestDigest(parsed.ref, parsed.ref.tag);
    if (existing === undefined) return 'new';
    if (existing === digest) return 'unchanged';
    throw new ReleaseError({
      code: 'E_RELEASE_TAG_EXISTS',
      message: `${image} already exists with digest ${existing}; this release built ${digest}`,
      hint: 'published tags are immutable: publish a new version instead of moving this one',
    });
  } finally {
    await close();
  }
}
