// One rule, two implementations: the chart's auto selection
// (`openshell.supervisor.sideloadMethod`, rendered into gateway.toml as the
// driver's `supervisor_sideload_method`) and scripts/lib/sideload.ts
// (methodForVersion / chooseMethod) must agree for every minor 1.29–1.36,
// with the value empty (auto) and set explicitly. Rendered with real
// `helm template --kube-version 1.N.0`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { chooseMethod, methodForVersion, SIDELOAD_METHODS, type SideloadMethod } from '../../scripts/lib/sideload.ts';
import { missingTools } from '../support/requires.ts';

const chart = join(import.meta.dirname, '..', '..', 'deploy', 'helm', 'openshell');
const MINORS = [29, 30, 31, 32, 33, 34, 35, 36];

function missingChart(): false | string {
  if (!existsSync(join(chart, 'Chart.yaml'))) return `needs the chart at ${chart} (deploy/helm/openshell/Chart.yaml is absent)`;
  return false;
}
const skip = missingTools('helm') || missingChart();

interface Doc {
  kind?: string;
  data?: Record<string, string>;
}

/** Render the chart for Kubernetes 1.<minor>.0 and return gateway.toml's supervisor_sideload_method. */
function renderedMethod(minor: number, explicit?: SideloadMethod): string {
  const args = ['template', 'openshell', chart, '--namespace', 'openshell', '--kube-version', `1.${minor}.0`, '--api-versions', 'agents.x-k8s.io/v1beta1'];
  if (explicit) args.push('--set', `supervisor.sideloadMethod=${explicit}`);
  const r = spawnSync('helm', args, { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `helm ${args.join(' ')} failed:\n${r.stderr}`);
  const values: string[] = [];
  for (const doc of parseAllDocuments(r.stdout)) {
    const d = doc.toJS() as Doc | null;
    const toml = d?.kind === 'ConfigMap' ? d.data?.['gateway.toml'] : undefined;
    for (const m of toml?.matchAll(/^supervisor_sideload_method = "(.*)"$/gm) ?? []) values.push(m[1] as string);
  }
  assert.equal(values.length, 1, `expected exactly one supervisor_sideload_method in gateway.toml at 1.${minor}, found ${values.length}`);
  return values[0]!;
}

describe('sideload method: the chart and scripts/lib agree', { skip }, () => {
  for (const minor of MINORS) {
    test(`Kubernetes 1.${minor}: auto (empty) selection`, () => {
      const ours = methodForVersion(`v1.${minor}.0`);
      assert.equal(chooseMethod(undefined, `v1.${minor}.0`).method, ours);
      assert.equal(renderedMethod(minor), ours, `chart and scripts disagree at 1.${minor}`);
    });
  }
  // An explicit value wins on both sides, on either side of the threshold.
  for (const minor of [29, 36]) {
    for (const method of SIDELOAD_METHODS) {
      test(`Kubernetes 1.${minor}: explicit ${method} wins`, () => {
        assert.equal(chooseMethod(method, `v1.${minor}.0`).method, method);
        assert.equal(renderedMethod(minor, method), method);
      });
    }
  }
});
