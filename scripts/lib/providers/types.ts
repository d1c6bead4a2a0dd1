// A cluster provider: one small "admin" per cluster product behind a common
// interface (after ctlptl), so up, down, bootstrap and status run unchanged
// against k3d, a local kwok control plane, or any existing kubeconfig context.
import type { TaskContext } from '../task.ts';

export interface ClusterState {
  /** The cluster exists (possibly stopped). */
  exists: boolean;
  /** Its API server answers. */
  running: boolean;
  /** One line for status, e.g. "k3d: 1 server, 1 agent" or "kwok: stopped". */
  detail: string;
}

export interface RegistryEndpoints {
  /** Where the host pushes, e.g. localhost:5000. */
  host: string;
  /** Where pods pull from, e.g. openshell-registry:5000. */
  cluster: string;
}

export interface ClusterProvider {
  readonly name: 'k3d' | 'kwok' | 'existing';
  /** Tools this provider runs (checked by doctor and before create). */
  readonly tools: string[];
  /** Whether it needs a container engine (k3d does; kwok and existing do not). */
  readonly needsEngine: boolean;
  /** Whether its nodes really run containers (kwok's simulated kubelet runs nothing, so no binary can be proven there). */
  readonly runsContainers: boolean;
  state(ctx: TaskContext): Promise<ClusterState>;
  // k3d has no methods for these three: up.ts and down.ts run its commands themselves.
  create?: Lifecycle['create'];
  start?: Lifecycle['start'];
  delete?: Lifecycle['delete'];
  /** The admin kubeconfig of the cluster as YAML, with our context/cluster/user names. */
  kubeconfig(ctx: TaskContext): Promise<string>;
  registry(ctx: TaskContext): RegistryEndpoints;
}

/** What a provider whose commands are not in the task scripts (existing, the test bed's kwok) brings. */
export interface Lifecycle {
  /** Create the cluster (and its registry); only called when state() says it does not exist. */
  create(ctx: TaskContext): Promise<void>;
  /** Start an existing, stopped cluster. */
  start(ctx: TaskContext): Promise<void>;
  /** Delete the cluster and what create made; a no-op when absent. */
  delete(ctx: TaskContext): Promise<void>;
}
