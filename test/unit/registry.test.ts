// The registry's names: splitImage, and the KEP-1755 local-registry-hosting ConfigMap.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse, stringify } from 'yaml';
import { hostingConfigMap, hostingHost, splitImage } from '../../scripts/lib/registry.ts';

test('splitImage', () => {
  assert.deepEqual(splitImage('localhost:5000/openshell-gateway:dev'), { registry: 'localhost:5000', repo: 'openshell-gateway', tag: 'dev' });
  assert.deepEqual(splitImage('openshell-registry:5000/team/openshell-supervisor:src-0123abcd'), { registry: 'openshell-registry:5000', repo: 'team/openshell-supervisor', tag: 'src-0123abcd' });
  assert.deepEqual(splitImage('localhost:5000/openshell-gateway'), { registry: 'localhost:5000', repo: 'openshell-gateway', tag: 'latest' });
});

test('hostingConfigMap follows KEP-1755', () => {
  const cm = hostingConfigMap({ host: 'localhost:5001', cluster: 'openshell-registry:5000' });
  assert.equal(cm.apiVersion, 'v1');
  assert.equal(cm.kind, 'ConfigMap');
  assert.deepEqual(cm.metadata, { name: 'local-registry-hosting', namespace: 'kube-public' });
  assert.deepEqual(Object.keys(cm.data), ['localRegistryHosting.v1']);
  const v1 = parse(cm.data['localRegistryHosting.v1']!) as Record<string, string>;
  // skaffold reads only `host`; the others are for tools that pull from inside the cluster.
  assert.equal(v1.host, 'localhost:5001');
  assert.equal(v1.hostFromContainerRuntime, 'openshell-registry:5000');
  assert.equal(v1.hostFromClusterNetwork, 'openshell-registry:5000');
  assert.match(v1.help!, /^https:\/\/github\.com\/kubernetes\/enhancements\/.*1755/);
  assert.deepEqual(Object.keys(v1).sort(), ['help', 'host', 'hostFromClusterNetwork', 'hostFromContainerRuntime']);
});

test('the KEP-1755 document is what the YAML library would write, and its host reads back (kind\'s and quoted forms too)', () => {
  const doc = hostingConfigMap({ host: 'localhost:5001', cluster: 'openshell-registry:5000' }).data['localRegistryHosting.v1']!;
  assert.equal(doc, stringify(parse(doc)), 'unchanged for clusters advertised by earlier versions');
  assert.equal(hostingHost(doc), 'localhost:5001');
  assert.equal(hostingHost('host: "localhost:5002"\nhelp: "https://kind.sigs.k8s.io/docs/user/local-registry/"\n'), 'localhost:5002');
  assert.equal(hostingHost('help: x\n'), undefined);
});
