// The provider for OPENSHELL_DEV_CLUSTER_PROVIDER, loaded on demand so a task
// pays only for the one it uses.
import type { ProviderName } from '../settings.ts';
import type { ClusterProvider } from './types.ts';

export async function providerFor(name: ProviderName): Promise<ClusterProvider> {
  switch (name) {
    case 'k3d':
      return (await import('./k3d.ts')).k3dProvider;
    case 'kwok': // the test bed's: a local control plane with simulated nodes
      return (await import('../../testbed/kwok-provider.ts')).kwokProvider;
    case 'existing':
      return (await import('./existing.ts')).existingProvider;
  }
}
