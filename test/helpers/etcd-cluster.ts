// The etcd cluster of bench/lib/etcd-cluster.ts in the tests' namespaces
// ("vt-…", watched by the leak check, removed after the file).
import { startEtcdCluster as start, type EtcdCluster, type Namespaces } from '../../bench/lib/etcd-cluster.js';
import { delNetns, makeNetns } from './netns.js';

export type { EtcdCluster } from '../../bench/lib/etcd-cluster.js';
export { SERVER_NAME } from '../../bench/lib/etcd-cluster.js';

export const testNamespaces: Namespaces = { make: makeNetns, remove: delNetns };

export function startEtcdCluster(dir: string, o: { tag?: string; subnet?: number } = {}): Promise<EtcdCluster> {
  return start(dir, { netns: testNamespaces, ...o });
}
