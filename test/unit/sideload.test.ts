// The sideload module: method parsing and selection, the seed's pod fragments,
// the sandbox pods and the verdicts k8s:dev:sideload reads from them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Pod } from 'kubernetes-models/v1/Pod';
import { answer, history, reset, type Rule } from '../../scripts/lib/sh.ts';
import { loadSettings, SettingsError } from '../../scripts/lib/settings.ts';
import {
  applySideload,
  chooseMethod,
  kubeServerVersion,
  methodForVersion,
  methodOfPodSpec,
  otherMethod,
  parseKubeVersion,
  parseSideloadMethod,
  judgeRecreated,
  openshellNamesFrom,
  sandboxPodsFrom,
  supervisorImageProblem,
  sideloadFragments,
  supervisorInitContainer,
  supervisorVolume,
  supervisorVolumeMount,
} from '../../scripts/lib/sideload.ts';
import { noDotenvRoot } from '../support/settings-env.ts';

const IMG = { image: 'openshell/supervisor:latest', pullPolicy: 'IfNotPresent' as const };
// Never the kit's .env, nor /tmp/.env: an empty root of our own.
const NO_DOTENV = noDotenvRoot();
const settings = loadSettings({ env: {}, root: NO_DOTENV, home: '/home/dev' });
/** Commands answered by `rules`; `exec.calls` is what really ran. */
function scripted(rules: Rule[]) {
  reset();
  answer(rules);
  return { get calls() { return history.filter((h) => !h.printed).map((h) => h.cmd); } };
}

describe('method parsing', () => {
  test('accepts the two methods and empty (auto)', () => {
    assert.equal(parseSideloadMethod('image-volume'), 'image-volume');
    assert.equal(parseSideloadMethod(' init-container '), 'init-container');
    assert.equal(parseSideloadMethod(''), undefined);
    assert.equal(parseSideloadMethod(undefined), undefined);
  });
  test('a bad value names the setting, the value and the allowed ones', () => {
    assert.throws(
      () => parseSideloadMethod('imagevolume'),
      (err: Error) =>
        err instanceof SettingsError &&
        err.message.includes('OPENSHELL_SUPERVISOR_SIDELOAD_METHOD="imagevolume"') &&
        err.message.includes('image-volume, init-container'),
    );
    assert.throws(() => parseSideloadMethod('Image-Volume'), SettingsError);
  });
  test('settings.ts rejects the same bad value', () => {
    assert.throws(() => loadSettings({ env: { OPENSHELL_SUPERVISOR_SIDELOAD_METHOD: 'copy' }, root: NO_DOTENV }), /allowed values are image-volume, init-container/);
  });
});

describe('selection by server version', () => {
  const table: Array<[string, string]> = [
    ['v1.29.0', 'init-container'],
    ['v1.30.14', 'init-container'],
    ['v1.31.2-eks-7f9249a', 'init-container'],
    ['v1.32.0', 'init-container'],
    ['v1.33.1', 'init-container'],
    ['v1.34.3+k3s1', 'init-container'],
    ['v1.35.0', 'image-volume'],
    ['v1.35.1-k3s1', 'image-volume'],
    ['v1.36.3', 'image-volume'],
    ['v1.37.0-alpha.1', 'image-volume'],
    ['v2.0.0', 'image-volume'],
  ];
  for (const [version, method] of table) {
    test(`${version} → ${method}`, () => assert.equal(methodForVersion(version), method));
  }
  test('every minor 1.29–1.36: the rule is a threshold at 1.35', () => {
    for (let minor = 29; minor <= 36; minor++) {
      assert.equal(methodForVersion({ major: 1, minor }), minor >= 35 ? 'image-volume' : 'init-container', `1.${minor}`);
    }
  });
  test('parses gitVersion strings and /version objects', () => {
    assert.deepEqual(parseKubeVersion('1.29'), { major: 1, minor: 29 });
    assert.deepEqual(parseKubeVersion({ major: '1', minor: '31+', gitVersion: 'v1.31.0-gke.1' }), { major: 1, minor: 31 });
    assert.deepEqual(parseKubeVersion({ gitVersion: 'v1.35.1-k3s1' }), { major: 1, minor: 35 });
    assert.throws(() => parseKubeVersion('latest'), /not a Kubernetes version/);
  });
  test('an explicit method wins over the version', () => {
    assert.deepEqual(chooseMethod('init-container', 'v1.36.0'), { method: 'init-container', source: 'setting', reason: 'OPENSHELL_SUPERVISOR_SIDELOAD_METHOD=init-container' });
    assert.equal(chooseMethod('image-volume', 'v1.29.0').method, 'image-volume');
    const auto = chooseMethod(undefined, 'v1.35.0');
    assert.equal(auto.method, 'image-volume');
    assert.equal(auto.source, 'version');
    assert.match(auto.reason, /1\.35 >= 1\.35/);
    assert.throws(() => chooseMethod(undefined, undefined), /server version is unknown/);
    assert.equal(otherMethod('image-volume'), 'init-container');
    assert.equal(otherMethod('init-container'), 'image-volume');
  });
});

describe('pod fragments (seed 002)', () => {
  test('image-volume: the image volume source with reference and pullPolicy', () => {
    assert.deepEqual(supervisorVolume('image-volume', IMG), {
      name: 'openshell-supervisor-bin',
      image: { reference: 'openshell/supervisor:latest', pullPolicy: 'IfNotPresent' },
    });
    assert.deepEqual(supervisorVolume('image-volume', { image: 'x:1' }), { name: 'openshell-supervisor-bin', image: { reference: 'x:1' } });
  });
  test('init-container: an emptyDir and copy-self into it', () => {
    assert.deepEqual(supervisorVolume('init-container', IMG), { name: 'openshell-supervisor-bin', emptyDir: {} });
    assert.deepEqual(supervisorInitContainer(IMG), {
      name: 'openshell-supervisor-install',
      image: 'openshell/supervisor:latest',
      imagePullPolicy: 'IfNotPresent',
      command: ['/openshell-sandbox', 'copy-self', '/opt/openshell/bin/openshell-sandbox'],
      securityContext: { runAsUser: 0 },
      volumeMounts: [{ name: 'openshell-supervisor-bin', mountPath: '/opt/openshell/bin', readOnly: false }],
    });
  });
  test('the agent mount is read-only at /opt/openshell/bin, identical for both methods', () => {
    assert.deepEqual(supervisorVolumeMount(), { name: 'openshell-supervisor-bin', mountPath: '/opt/openshell/bin', readOnly: true });
    assert.deepEqual(sideloadFragments('image-volume', IMG).agent, sideloadFragments('init-container', IMG).agent);
    assert.deepEqual(sideloadFragments('image-volume', IMG).agent.command, ['/opt/openshell/bin/openshell-sandbox']);
    assert.deepEqual(sideloadFragments('image-volume', IMG).initContainers, []);
    assert.equal(sideloadFragments('init-container', IMG).initContainers.length, 1);
  });
  for (const method of ['image-volume', 'init-container'] as const) {
    test(`applySideload(${method}) patches the agent container and validates as a Pod`, () => {
      const spec = {
        volumes: [{ name: 'workspace', emptyDir: {} }],
        containers: [
          { name: 'sidecar', image: 'proxy:1' },
          { name: 'agent', image: 'agent:1', command: ['/bin/agent'], securityContext: { runAsNonRoot: false }, volumeMounts: [{ name: 'workspace', mountPath: '/sandbox' }] },
        ],
      };
      const out = applySideload(spec, method, IMG);
      assert.equal(spec.volumes.length, 1, 'input untouched');
      assert.deepEqual(out.volumes?.map((v) => v.name), ['workspace', 'openshell-supervisor-bin']);
      assert.equal(out.initContainers?.length ?? 0, method === 'init-container' ? 1 : 0);
      const agent = out.containers[1]!;
      assert.deepEqual(agent.command, ['/opt/openshell/bin/openshell-sandbox']);
      assert.deepEqual(agent.securityContext, { runAsNonRoot: false, runAsUser: 0 });
      assert.deepEqual(agent.volumeMounts?.[1], { name: 'openshell-supervisor-bin', mountPath: '/opt/openshell/bin', readOnly: true });
      assert.equal(out.containers[0]!.command, undefined, 'other containers untouched');
      assert.equal(methodOfPodSpec(out), method);
      new Pod({ metadata: { name: 'p' }, spec: out }).validate();
    });
  }
  test('without a container named agent, the first container is the agent', () => {
    const out = applySideload({ containers: [{ name: 'main', image: 'x' }] }, 'image-volume', IMG);
    assert.deepEqual(out.containers[0]!.command, ['/opt/openshell/bin/openshell-sandbox']);
  });
});

describe('sandbox pods', () => {
  const pod = (name: string, phase: string, volume: object | undefined, extra: object = {}) => ({
    metadata: { name, namespace: 'openshell', ...extra },
    spec: { containers: [{ name: 'agent', image: 'a' }], volumes: volume ? [volume] : [] },
    status: { phase },
  });
  test('keeps running, non-terminating pods and reads their method', () => {
    const json = JSON.stringify({
      items: [
        pod('b', 'Running', { name: 'openshell-supervisor-bin', image: { reference: 'r:1', pullPolicy: 'Always' } }),
        pod('a', 'Running', { name: 'openshell-supervisor-bin', emptyDir: {} }),
        pod('c', 'Pending', { name: 'openshell-supervisor-bin', emptyDir: {} }),
        pod('d', 'Running', { name: 'openshell-supervisor-bin', emptyDir: {} }, { deletionTimestamp: '2026-01-01T00:00:00Z' }),
        pod('e', 'Running', undefined),
      ],
    });
    const pods = sandboxPodsFrom(json);
    assert.deepEqual(
      pods.map((p) => [p.name, p.method, p.image, p.pullPolicy]),
      [
        ['a', 'init-container', undefined, undefined],
        ['b', 'image-volume', 'r:1', 'Always'],
        ['e', undefined, undefined, undefined],
      ],
    );
    assert.equal(pods[0]!.container, 'agent');
    assert.equal(pods[0]!.namespace, 'openshell');
  });
});

describe('settings: the sandbox selector', () => {
  test('defaults to the label the agent-sandbox controller puts on every sandbox pod, and rejects an empty or malformed one', () => {
    assert.equal(settings.sandboxSelector, 'agents.x-k8s.io/sandbox-name-hash');
    assert.match(settings.supervisorBuildCommand, /-p openshell-sandbox .*\+crt-static$/);
    assert.equal(loadSettings({ env: { OPENSHELL_DEV_SANDBOX_SELECTOR: 'app in (a, b),tier!=x' }, root: NO_DOTENV }).sandboxSelector, 'app in (a, b),tier!=x');
    for (const bad of ['', 'a=b,', 'a b', 'x=(']) {
      assert.throws(() => loadSettings({ env: { OPENSHELL_DEV_SANDBOX_SELECTOR: bad }, root: NO_DOTENV }), /OPENSHELL_DEV_SANDBOX_SELECTOR=.* is not valid: must be a non-empty Kubernetes label selector/);
    }
  });
});

describe('mount table, pod list, version: the edges', () => {
  test('sandboxPodsFrom: tolerates missing fields; the agent container by name, else the first; init-container image and policy', () => {
    assert.deepEqual(sandboxPodsFrom('{}'), []);
    assert.deepEqual(sandboxPodsFrom(JSON.stringify({ items: [{}, { metadata: {} }, { status: { phase: 'Running' } }, { status: { phase: 'Running' }, metadata: {} }] })), []);
    const [bare] = sandboxPodsFrom(JSON.stringify({ items: [{ metadata: { name: 'bare' }, status: { phase: 'Running' } }] }));
    assert.deepEqual(bare, { name: 'bare', namespace: 'default', uid: '', container: 'agent', method: undefined, image: undefined, pullPolicy: undefined });
    const pods = sandboxPodsFrom(
      JSON.stringify({
        items: [
          {
            metadata: { name: 'x', namespace: 'ns' },
            status: { phase: 'Running' },
            spec: {
              containers: [{ name: 'sidecar' }, { name: 'agent' }],
              volumes: [{ name: 'other', emptyDir: {} }, { name: 'openshell-supervisor-bin', emptyDir: {} }],
              initContainers: [{ name: 'setup', image: 'setup:1', imagePullPolicy: 'Never' }, { name: 'openshell-supervisor-install', image: 'sup:1', imagePullPolicy: 'Always' }],
            },
          },
          { metadata: { name: 'y', namespace: 'ns' }, status: { phase: 'Running' }, spec: { containers: [{ name: 'main' }, { name: 'side' }] } },
          {
            metadata: { name: 'z', namespace: 'ns' },
            status: { phase: 'Running' },
            spec: {
              containers: [{ name: 'agent' }],
              volumes: [{ name: 'data', image: { reference: 'data:1', pullPolicy: 'Never' } }, { name: 'openshell-supervisor-bin', image: { reference: 'sup:2', pullPolicy: 'Always' } }],
            },
          },
        ],
      }),
    );
    assert.deepEqual(
      pods.map((p) => [p.name, p.container, p.method, p.image, p.pullPolicy]),
      [
        ['x', 'agent', 'init-container', 'sup:1', 'Always'],
        ['y', 'main', undefined, undefined, undefined],
        ['z', 'agent', 'image-volume', 'sup:2', 'Always'],
      ],
    );
  });

  test('methodForVersion: image-volume from 1.35 on (and on any later major), init-container before', () => {
    for (let minor = 20; minor <= 40; minor++) assert.equal(methodForVersion({ major: 1, minor }), minor >= 35 ? 'image-volume' : 'init-container', `1.${minor}`);
    assert.equal(methodForVersion({ major: 2, minor: 0 }), 'image-volume');
    assert.equal(methodForVersion({ major: 0, minor: 99 }), 'init-container');
    assert.equal(methodForVersion('v1.34.9'), 'init-container');
    assert.match(chooseMethod(undefined, 'v1.29.3').reason, /^Kubernetes 1\.29 < 1\.35 \(OPENSHELL_SUPERVISOR_SIDELOAD_METHOD empty\)$/);
    assert.equal(chooseMethod(undefined, { major: 1, minor: 36 }).method, 'image-volume');
  });

  test('kubeServerVersion: the server\'s version; else why not, from stderr, then stdout', async () => {
    scripted([['kubectl version', { stdout: JSON.stringify({ serverVersion: { major: '1', minor: '36', gitVersion: 'v1.36.3' } }) }]]);
    assert.deepEqual(await kubeServerVersion([]), { major: 1, minor: 36, gitVersion: 'v1.36.3' });
    scripted([['kubectl version', { stdout: JSON.stringify({ serverVersion: { major: '1', minor: '29' } }) }]]);
    assert.equal((await kubeServerVersion([])).gitVersion, '');
    scripted([['kubectl version', { code: 1, stdout: '{"clientVersion":{}}', stderr: 'E1 first\nUnable to connect to the server: dial tcp 127.0.0.1:1: connect: connection refused\n' }]]);
    await assert.rejects(kubeServerVersion([]), { message: 'the API server did not report its version (Unable to connect to the server: dial tcp 127.0.0.1:1: connect: connection refused)' });
    scripted([['kubectl version', { stdout: 'not json\nat all' }]]);
    await assert.rejects(kubeServerVersion([]), { message: 'the API server did not report its version (at all)' });
  });

  test('applySideload appends to what the spec has, adds no init containers for image volumes, and tolerates a spec without containers', () => {
    const spec = {
      volumes: [{ name: 'data', emptyDir: {} }],
      initContainers: [{ name: 'setup', image: 's' }],
      containers: [{ name: 'side', image: 'x' }, { name: 'agent', image: 'a', volumeMounts: [{ name: 'data', mountPath: '/data' }], securityContext: { readOnlyRootFilesystem: true } }],
    };
    const iv = applySideload(spec, 'image-volume', IMG);
    assert.deepEqual(iv.volumes!.map((v) => v.name), ['data', 'openshell-supervisor-bin']);
    assert.deepEqual(iv.initContainers!.map((c) => c.name), ['setup']);
    assert.deepEqual(iv.containers[1]!.volumeMounts!.map((m) => m.name), ['data', 'openshell-supervisor-bin']);
    assert.deepEqual(iv.containers[1]!.securityContext, { readOnlyRootFilesystem: true, runAsUser: 0 });
    assert.equal(iv.containers[0]!.command, undefined, 'the sidecar is not the agent');
    const bare = applySideload({ containers: [{ name: 'agent', image: 'a' }] }, 'image-volume', IMG);
    assert.equal('initContainers' in bare, false);
    assert.deepEqual(bare.containers[0]!.volumeMounts, [{ name: 'openshell-supervisor-bin', mountPath: '/opt/openshell/bin', readOnly: true }]);
    assert.deepEqual(applySideload({ containers: [] }, 'init-container', IMG).volumes!.map((v) => v.name), ['openshell-supervisor-bin']);
    assert.deepEqual(sideloadFragments('image-volume', IMG).agent, {
      command: ['/opt/openshell/bin/openshell-sandbox'],
      securityContext: { runAsUser: 0 },
      volumeMounts: [{ name: 'openshell-supervisor-bin', mountPath: '/opt/openshell/bin', readOnly: true }],
    });
    assert.equal(methodOfPodSpec(undefined), undefined);
    assert.equal(methodOfPodSpec({ containers: [] }), undefined);
  });
});

describe('k8s:dev:sideload: which sandbox, which pods can take the dev image, has the new pod come back', () => {
  const dev = 'openshell-registry:5000/openshell-supervisor:dev';
  const p = (over: object) => ({ name: 'default--a', namespace: 'openshell', uid: 'u1', container: 'agent', method: 'image-volume' as const, image: dev, pullPolicy: 'Always', ...over });

  test('openshellNamesFrom: the driver\'s labels on the Sandbox, keyed by the pod name (annotation, else the Sandbox name)', () => {
    const m = openshellNamesFrom(JSON.stringify({
      items: [
        { metadata: { name: 'default--a', labels: { 'openshell.ai/sandbox-name': 'a', 'openshell.ai/sandbox-workspace': 'default' }, annotations: { 'agents.x-k8s.io/pod-name': 'default--a' } } },
        { metadata: { name: 'team--b', labels: { 'openshell.ai/sandbox-name': 'b', 'openshell.ai/sandbox-workspace': 'team' } } },
        { metadata: { name: 'c', labels: { 'openshell.ai/sandbox-name': 'c' } } },
        { metadata: { name: 'not-openshell' } },
      ],
    }));
    assert.deepEqual([...m.entries()], [['default--a', { name: 'a', workspace: 'default' }], ['team--b', { name: 'b', workspace: 'team' }], ['c', { name: 'c', workspace: 'default' }]]);
    assert.equal(openshellNamesFrom('{}').size, 0);
  });

  test('supervisorImageProblem: the dev image pulled Always is fine; anything else says why a new pod would not run the push', () => {
    assert.equal(supervisorImageProblem(p({}), dev), undefined);
    assert.equal(supervisorImageProblem(p({ method: 'init-container' }), dev), undefined);
    assert.match(supervisorImageProblem(p({ method: undefined }), dev)!, /no openshell-supervisor-bin volume/);
    assert.match(supervisorImageProblem(p({ image: 'ghcr.io/nvidia/openshell/supervisor:dev' }), dev)!, /is ghcr\.io\/nvidia\/openshell\/supervisor:dev, not openshell-registry:5000\/openshell-supervisor:dev/);
    assert.match(supervisorImageProblem(p({ pullPolicy: 'IfNotPresent' }), dev)!, /pullPolicy IfNotPresent: a node that has the tag keeps the old binary/);
    assert.match(supervisorImageProblem(p({ pullPolicy: undefined }), dev)!, /pullPolicy \(default: IfNotPresent for a tag\)/);
  });

  const pod = (uid: string, over: Record<string, unknown> = {}) => JSON.stringify({
    metadata: { uid, ...(over.metadata as object) },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }], ...(over.status as object) },
  });
  test('judgeRecreated: waits for a new uid that runs and is Ready; a failed start fails at once', () => {
    assert.equal(judgeRecreated(pod('u1'), 'u1', undefined).state, 'waiting');
    assert.equal(judgeRecreated(pod('u2', { status: { phase: 'Pending', conditions: [] } }), 'u1', undefined).detail, 'new pod Pending');
    assert.equal(judgeRecreated(pod('u2', { status: { conditions: [{ type: 'Ready', status: 'False' }] } }), 'u1', undefined).detail, 'new pod Running, not Ready');
    assert.equal(judgeRecreated(pod('u2', { metadata: { deletionTimestamp: 'x' } }), 'u1', undefined).state, 'waiting');
    assert.deepEqual(judgeRecreated(pod('u2'), 'u1', undefined), { state: 'running', detail: 'new pod Running and Ready' });
    const pull = judgeRecreated(pod('u2', { status: { phase: 'Pending', containerStatuses: [{ name: 'agent', state: { waiting: { reason: 'ErrImagePull', message: 'not found' } } }] } }), 'u1', undefined);
    assert.deepEqual(pull, { state: 'failed', detail: 'agent: ErrImagePull: not found' });
    const init = judgeRecreated(pod('u2', { status: { phase: 'Pending', initContainerStatuses: [{ name: 'openshell-supervisor-install', state: { terminated: { exitCode: 1, reason: 'Error' } } }] } }), 'u1', undefined);
    assert.equal(init.state, 'failed');
    assert.match(init.detail, /openshell-supervisor-install exited 1/);
  });

  test('judgeRecreated: the init container\'s image digest against the pushed one', () => {
    const withInit = (imageID: string) => pod('u2', { status: { initContainerStatuses: [{ name: 'openshell-supervisor-install', imageID, state: { terminated: { exitCode: 0 } } }] } });
    assert.equal(judgeRecreated(withInit('openshell-registry:5000/openshell-supervisor@sha256:aa'), 'u1', 'sha256:aa').digestMatches, true);
    assert.equal(judgeRecreated(withInit('openshell-registry:5000/openshell-supervisor@sha256:bb'), 'u1', 'sha256:aa').digestMatches, false);
    assert.equal(judgeRecreated(withInit('x@sha256:aa'), 'u1', undefined).digestMatches, undefined);
    assert.equal(judgeRecreated(pod('u2'), 'u1', 'sha256:aa').digestMatches, undefined, 'image-volume: no init container');
  });
});
