// The chart's contract with its users: the sideload auto rule per Kubernetes
// minor, schema rejections, validateValues sentences, the preflight, the
// checksum roll, and the generated docs/schema staying in sync with values.yaml.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { missingTools } from '../support/requires.ts';
import { chartDir, chartSideloadMethod, devValues, gatewayWorkload, render, renderError, SANDBOX_API } from './support/helm.ts';
import { expectedFiles } from './support/values-docs.ts';

const skip = missingTools('helm');

describe('chart: supervisor sideload method', { skip }, () => {
  for (let minor = 29; minor <= 36; minor++) {
    const expected = minor >= 35 ? 'image-volume' : 'init-container';
    test(`auto at 1.${minor} → ${expected}`, async () => {
      assert.equal(await chartSideloadMethod(`1.${minor}.0`), expected);
    });
  }
  test('provider version suffixes (k3s, EKS) resolve like the plain version', async () => {
    assert.equal(await chartSideloadMethod('v1.35.1+k3s1'), 'image-volume');
    assert.equal(await chartSideloadMethod('v1.34.2-eks-1234'), 'init-container');
  });
  test('an explicit value wins over the version', async () => {
    assert.equal(await chartSideloadMethod('1.34.0', 'image-volume'), 'image-volume');
    assert.equal(await chartSideloadMethod('1.36.0', 'init-container'), 'init-container');
  });
});

describe('chart: rejected values', { skip }, () => {
  test('a bogus sideloadMethod fails naming the allowed values', async () => {
    const err = await renderError(['--set', 'supervisor.sideloadMethod=bogus']);
    assert.match(err, /sideloadMethod/);
    assert.match(err, /'image-volume'/);
    assert.match(err, /'init-container'/);
  });
  test('replicaCount=2 without an external database fails with a sentence saying what to set', async () => {
    const err = await renderError(['--set', 'replicaCount=2']);
    assert.match(err, /replicaCount=2 needs an external database/);
    assert.match(err, /database\.external\.enabled=true/);
    assert.match(err, /database\.external\.secretName/);
  });
  test('replicaCount=2 with an external database renders a Deployment', async () => {
    const objs = await render(['--set', 'replicaCount=2', '--set', 'database.external.enabled=true', '--set', 'database.external.secretName=pg']);
    const gw = gatewayWorkload(objs);
    assert.equal(gw.kind, 'Deployment');
    assert.equal(gw.spec.replicas, 2);
  });
  const cases: [string, string[], RegExp][] = [
    ['external database without a Secret', ['--set', 'database.external.enabled=true'], /needs database\.external\.secretName/],
    ['OIDC without an issuer', ['--set', 'auth.oidc.enabled=true'], /needs auth\.oidc\.issuer/],
    ['OIDC plus unauthenticated', ['--set', 'auth.oidc.enabled=true', '--set', 'auth.oidc.issuer=https://kc/realms/x', '--set', 'auth.oidc.audience=a', '--set', 'auth.allowUnauthenticated=true'], /contradict/],
    ['ingress with nowhere to attach', ['--set', 'ingress.gatewayAPI.enabled=true'], /parentRefs/],
    ['a Gateway without a class', ['--set', 'ingress.gatewayAPI.enabled=true', '--set', 'ingress.gatewayAPI.createGateway=true'], /gatewayClassName/],
    ['an unknown top-level value', ['--set', 'replicas=2'], /additional properties 'replicas' not allowed|replicas/],
    ['an unknown service type', ['--set', 'service.type=Ingress'], /'ClusterIP', 'NodePort', 'LoadBalancer'/],
    ['a bad pull policy', ['--set', 'image.pullPolicy=always'], /'Always', 'IfNotPresent', 'Never'/],
    ['a bad log level', ['--set', 'logging.level=loud'], /'trace', 'debug', 'info', 'warn', 'error'/],
    ['a NodePort out of range', ['--set', 'service.type=NodePort', '--set', 'service.nodePort=8080'], /nodePort/],
    ['a PDB that blocks every drain', ['--set', 'podDisruptionBudget.minAvailable=1'], /would block every node drain/],
    ['TLS with sandboxes in another namespace and generated Secrets', ['--set', 'sandbox.namespace=agents'], /sandbox pods mount the client certificate Secret from their own namespace/],
    ['Gateway API ingress in front of a TLS gateway', ['--set', 'ingress.gatewayAPI.enabled=true', '--set', 'ingress.gatewayAPI.parentRefs[0].name=gw'], /needs disableTls=true/],
    ['an unknown TLS source', ['--set', 'tls.source=vault'], /'generate', 'certManager', 'existing'/],
    ['a bad AppArmor profile', ['--set', 'sandbox.appArmorProfile=strict'], /appArmorProfile/],
    ['a removed value (logging.format)', ['--set', 'logging.format=json'], /format/],
  ];
  for (const [what, args, pattern] of cases) {
    test(`fails: ${what}`, async () => {
      assert.match(await renderError(args), pattern);
    });
  }
});

describe('chart: preflight for the agent-sandbox API', { skip }, () => {
  test('fails when neither v1beta1 nor v1alpha1 is served, saying how to fix it', async () => {
    const err = await renderError([], '1.35.0', []);
    assert.match(err, /neither agents\.x-k8s\.io\/v1beta1 nor agents\.x-k8s\.io\/v1alpha1/);
    assert.match(err, /preflight\.agentSandbox\.enabled=false/);
  });
  test('passes when v1beta1 or v1alpha1 is served (the driver takes either), or when the check is off', async () => {
    await render([], '1.35.0', [SANDBOX_API]);
    await render([], '1.35.0', ['agents.x-k8s.io/v1alpha1']);
    await render(['--set', 'preflight.agentSandbox.enabled=false'], '1.35.0', []);
  });
});

describe('chart: configuration rolls the pods', { skip }, () => {
  test('checksum/config changes with the configuration and only with it', async () => {
    const checksum = async (args: string[]) =>
      gatewayWorkload(await render([...args, '--show-only', 'templates/gateway.yaml'])).spec.template.metadata.annotations?.['checksum/config'];
    const base = await checksum([]);
    assert.ok(base);
    assert.notEqual(await checksum(['--set', 'logging.level=debug']), base, 'log level is in gateway.toml');
    assert.notEqual(await checksum(['--set', 'supervisor.image.tag=v2']), base, 'supervisor image is in gateway.toml');
    assert.equal(await checksum(['--set', 'gateway.podAnnotations.team=x']), base, 'pod annotations are not config');
  });
});

describe('chart: generated files and dev values stay in sync', () => {
  test('values.schema.json and the README value table match values.yaml', () => {
    const want = expectedFiles();
    const hint = 'run: node test/chart/support/values-docs.ts --write';
    assert.equal(readFileSync(join(chartDir, 'values.schema.json'), 'utf8'), want.schema, hint);
    assert.equal(readFileSync(join(chartDir, 'README.md'), 'utf8'), want.readme, hint);
  });

  test('the schema covers every value and closes every object it describes', () => {
    const schema = JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8')) as Record<string, unknown>;
    const values = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>;
    const walk = (v: Record<string, unknown>, s: Record<string, unknown>, path: string) => {
      const props = s.properties as Record<string, Record<string, unknown>> | undefined;
      if (!props) return;
      assert.equal(s.additionalProperties, false, `${path || 'root'} is closed`);
      for (const [k, child] of Object.entries(v)) {
        const cs = props[k];
        assert.ok(cs, `schema describes ${path}${k}`);
        assert.ok(typeof cs.description === 'string' || cs.properties, `${path}${k} has a description`);
        // A documented value is a leaf (its inner shape is a rule, e.g. resources).
        if (child && typeof child === 'object' && !Array.isArray(child) && cs.properties && cs.description === undefined) walk(child as Record<string, unknown>, cs, `${path}${k}.`);
      }
    };
    walk(values, schema, '');
  });

  test('ci/dev-values.yaml repeats values.dev.yaml exactly (plus the offline preflight switch)', () => {
    const dev = parse(readFileSync(devValues, 'utf8')) as Record<string, unknown>;
    const ci = parse(readFileSync(join(chartDir, 'ci/dev-values.yaml'), 'utf8')) as Record<string, unknown>;
    const { preflight, ...rest } = ci;
    assert.deepEqual(preflight, { agentSandbox: { enabled: false } });
    assert.deepEqual(rest, dev);
  });
});
