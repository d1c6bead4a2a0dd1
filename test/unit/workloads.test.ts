// rolloutPending: kubectl rollout status's rules on Deployment and StatefulSet status.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rolloutPending, type WorkloadLike } from '../../scripts/lib/workloads.ts';

const dep = (spec: WorkloadLike['spec'], status: WorkloadLike['status'], generation = 2): WorkloadLike => ({ kind: 'Deployment', metadata: { name: 'gw', generation }, spec, status });
const sts = (spec: WorkloadLike['spec'], status: WorkloadLike['status'], generation = 1): WorkloadLike => ({ kind: 'StatefulSet', metadata: { name: 'gw', generation }, spec, status });

test('rolloutPending cases', () => {
  const cases: Array<[string, WorkloadLike, string | null]> = [
    ['no status yet', dep({ replicas: 1 }, undefined), 'waiting for the controller to observe the update'],
    ['old generation observed', dep({ replicas: 1 }, { observedGeneration: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 }), 'waiting for the controller to observe the update'],
    ['none updated', dep({ replicas: 2 }, { observedGeneration: 2 }), '0/2 replicas updated'],
    ['one of two updated', dep({ replicas: 2 }, { observedGeneration: 2, updatedReplicas: 1, readyReplicas: 2 }), '1/2 replicas updated'],
    ['updated, not ready', dep({ replicas: 2 }, { observedGeneration: 2, updatedReplicas: 2, readyReplicas: 1 }), '1/2 replicas ready'],
    ['ready, not available', dep({ replicas: 2 }, { observedGeneration: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 1 }), '1/2 replicas available'],
    ['deployment done', dep({ replicas: 2 }, { observedGeneration: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 }), null],
    ['replicas defaults to 1', dep({}, { observedGeneration: 2, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 }), null],
    ['scaled to zero', dep({ replicas: 0 }, { observedGeneration: 2 }), null],
    ['statefulset needs no availableReplicas', sts({ replicas: 1 }, { observedGeneration: 1, updatedReplicas: 1, readyReplicas: 1, currentRevision: 'a', updateRevision: 'a', replicas: 1 }), null],
    ['statefulset with an old pod still running', sts({ replicas: 1 }, { observedGeneration: 1, updatedReplicas: 1, readyReplicas: 1, currentRevision: 'a', updateRevision: 'b', replicas: 2 }), 'old revision still running'],
    ['statefulset revisions differ but only the wanted pods run', sts({ replicas: 1 }, { observedGeneration: 1, updatedReplicas: 1, readyReplicas: 1, currentRevision: 'a', updateRevision: 'b', replicas: 1 }), null],
    ['statefulset not ready', sts({ replicas: 3 }, { observedGeneration: 1, updatedReplicas: 3, readyReplicas: 2 }), '2/3 replicas ready'],
  ];
  for (const [name, w, want] of cases) assert.equal(rolloutPending(w), want, name);
});

test('parseVersion falls back to gitVersion when major/minor are empty (locally built servers)', async () => {
  const { parseVersion } = await import('../../scripts/lib/kube.ts');
  assert.deepEqual(parseVersion({ major: '', minor: '', gitVersion: 'v1.29.15' }), { major: 1, minor: 29, gitVersion: 'v1.29.15' });
  assert.deepEqual(parseVersion({ major: '1', minor: '31+', gitVersion: 'v1.31.2-gke.1' }), { major: 1, minor: 31, gitVersion: 'v1.31.2-gke.1' });
  assert.deepEqual(parseVersion({ major: '1', minor: '36', gitVersion: 'v1.36.3' }), { major: 1, minor: 36, gitVersion: 'v1.36.3' });
});
