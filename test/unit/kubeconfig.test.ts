// Kubeconfig merging that never clobbers a user's file: our entries in and out,
// everything else byte for byte; clientcmd's target-file rules; backups,
// symlinks, atomic writes; corrupt files refused without a write.
//
// Why the kit never loads several kubeconfig files into client-node: its
// KubeConfig merges them differently from kubectl (clientcmd). clientcmd takes
// current-context from the FIRST file that sets one and keeps the first of
// duplicate names; client-node's mergeConfig (what loadFromDefault does over
// KUBECONFIG) lets the LAST file's current-context win and throws on a
// duplicate name. So the kit picks files with clientcmd's rules itself
// (defaultTarget, kubeconfigFiles) and only ever loads its own single file.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parse } from 'yaml';
import {
  atomicWrite,
  BACKUP_SUFFIX,
  defaultTarget,
  hasOurEntries,
  kubeconfigFiles,
  mergeIntoUser,
  mergeText,
  removeFromUser,
  removeText,
  writeOwnFile,
} from '../../scripts/lib/kubeconfig.ts';
import { UserError } from '../../scripts/lib/task.ts';

const FIX = join(import.meta.dirname, '..', 'fixtures', 'kubeconfig');
const fixture = (name: string) => readFileSync(join(FIX, name), 'utf8');
const names = { context: 'k3d-openshell-dev', cluster: 'k3d-openshell-dev', user: 'admin@k3d-openshell-dev' };
const user = fixture('user.yaml');
const ours = fixture('ours.yaml');
const rotated = fixture('ours-rotated.yaml');

const work = mkdtempSync(join(tmpdir(), 'openshell-kubeconfig-unit-'));
after(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const freshDir = () => {
  const d = join(work, `case-${n++}`);
  mkdirSync(d);
  return d;
};

interface Kc {
  clusters?: Array<{ name: string; cluster: { server: string } }> | null;
  users?: Array<{ name: string }> | null;
  contexts?: Array<{ name: string; context: { cluster: string; user: string } }> | null;
  'current-context'?: string;
}
const load = (text: string) => parse(text) as Kc;
const namesOf = (list: Array<{ name: string }> | null | undefined) => (list ?? []).map((x) => x.name);

describe('mergeText / removeText', () => {
  test('merging keeps every unrelated byte; removing ours again gives the original exactly', () => {
    const merged = mergeText(user, ours, names);
    // Each unrelated section's text, comments, quoting and flow style included, is still there verbatim.
    const clustersText = user.slice(user.indexOf('clusters:'), user.indexOf('contexts:'));
    const usersText = user.slice(user.indexOf('users:'), user.indexOf('\n\n# trailing'));
    for (const part of [clustersText, usersText, '# My kubeconfig: hand edited, keep my comments please.\n', '\n\n# trailing comment\n', "server: https://prod.example.com:6443   # prod API, two spaces before the hash", '- context: {cluster: staging, user: bob}\n']) {
      assert.ok(merged.includes(part), `missing verbatim:\n${part}`);
    }
    assert.equal(removeText(merged, names), user);
    // And the merged file says what we mean.
    const kc = load(merged);
    assert.deepEqual(namesOf(kc.clusters), ['prod', 'staging', 'staging', 'k3d-openshell-dev']);
    assert.deepEqual(namesOf(kc.users), ['alice', 'bob', 'admin@k3d-openshell-dev']);
    assert.deepEqual(namesOf(kc.contexts), ['prod', 'staging', 'k3d-openshell-dev']);
    assert.equal(kc.clusters![3]!.cluster.server, 'https://0.0.0.0:43123');
    assert.equal(kc['current-context'], 'prod', 'the user\'s current context is kept');
  });

  test('duplicate names elsewhere in the file are preserved in order (kubectl keeps the first)', () => {
    const kc = load(mergeText(user, ours, names));
    const staging = kc.clusters!.filter((c) => c.name === 'staging').map((c) => c.cluster.server);
    assert.deepEqual(staging, ['https://staging.example.com', 'https://staging-old.example.com']);
  });

  test('a re-merge replaces our entries in place; merging the same again changes nothing', () => {
    const first = mergeText(user, ours, names);
    assert.equal(mergeText(first, ours, names), first);
    // Our entry was moved away from the end: a re-merge keeps its position.
    const moved = first.replace('contexts:\n', 'contexts:\n- context: {cluster: extra, user: extra}\n  name: zz-after\n');
    const second = mergeText(moved, rotated, names);
    const kc = load(second);
    assert.deepEqual(namesOf(kc.clusters), ['prod', 'staging', 'staging', 'k3d-openshell-dev']);
    assert.equal(kc.clusters![3]!.cluster.server, 'https://0.0.0.0:45999');
    assert.doesNotMatch(second, /43123|Q0EtT05F/);
    assert.equal(second.split('k3d-openshell-dev').length, first.split('k3d-openshell-dev').length, 'no duplicate of ours');
    assert.equal(removeText(second, names), removeText(moved, names));
  });

  test('current-context is set only when the file has none', () => {
    assert.equal(load(mergeText(user, ours, names))['current-context'], 'prod');
    const none = user.replace('current-context: prod\n', '');
    assert.equal(load(mergeText(none, ours, names))['current-context'], 'k3d-openshell-dev');
    const empty = user.replace('current-context: prod', 'current-context: ""');
    const merged = mergeText(empty, ours, names);
    assert.equal(load(merged)['current-context'], 'k3d-openshell-dev');
    // ...and dropped again on removal, because it is ours now.
    assert.equal(load(removeText(merged, names)!)['current-context'], undefined);
  });

  test('removeText removes only ours, drops current-context only if ours, null when nothing is ours', () => {
    assert.equal(removeText(user, names), null);
    const ourCurrent = mergeText(user.replace('current-context: prod\n', ''), ours, names);
    const removed = removeText(ourCurrent, names)!;
    assert.equal(removed, user.replace('current-context: prod\n', ''));
    assert.equal(hasOurEntries(removed, names), false);
    // Another context's current-context stays even if ours are removed.
    assert.equal(load(removeText(mergeText(user, ours, names), names)!)['current-context'], 'prod');
    // A current-context naming ours with no entries is still ours to drop.
    assert.equal(removeText('apiVersion: v1\ncurrent-context: k3d-openshell-dev\nkind: Config\n', names), 'apiVersion: v1\nkind: Config\n');
  });

  // After a merge and a removal each layout is back to its text; only a value we
  // filled in (an empty current-context, an empty list) stays changed.
  for (const [file, style, roundTrip] of [
    ['indented.yaml', 'indented block sequences', (t: string) => t.replace('current-context: ""\n', '')],
    ['flow.yaml', 'flow sequences', (t: string) => t],
    ['sparse.yaml', 'missing and empty sections', (t: string) => t.replace('users: null', 'users:') + 'contexts:\n'],
  ] as const) {
    test(`other layouts keep their text: ${style}`, () => {
      const original = fixture(file);
      const merged = mergeText(original, ours, names);
      const kc = load(merged);
      assert.ok(namesOf(kc.clusters).includes('k3d-openshell-dev'));
      assert.ok(namesOf(kc.users).includes('admin@k3d-openshell-dev'));
      assert.deepEqual(kc.contexts!.find((c) => c.name === 'k3d-openshell-dev')!.context, { cluster: 'k3d-openshell-dev', user: 'admin@k3d-openshell-dev' });
      assert.equal(kc['current-context'], 'k3d-openshell-dev');
      assert.equal(mergeText(merged, ours, names), merged, 'idempotent');
      assert.equal(mergeText(merged, rotated, names).length, merged.length, 'replaced in place, not appended');
      assert.equal(removeText(merged, names), roundTrip(original));
    });
  }

  test('indented sequences get our entries at the same indentation', () => {
    const merged = mergeText(fixture('indented.yaml'), ours, names);
    assert.match(merged, /\n {2}- cluster:\n {6}certificate-authority-data: Q0EtT05F\n {6}server: https:\/\/0\.0\.0\.0:43123\n {4}name: k3d-openshell-dev\n/);
    assert.equal(removeText(merged, names), fixture('indented.yaml').replace('current-context: ""\n', ''));
  });

  test('an empty or comment-only file becomes a complete kubeconfig', () => {
    for (const text of ['', '# just a comment\n']) {
      const merged = mergeText(text, ours, names);
      assert.ok(merged.startsWith(text));
      const kc = load(merged) as Kc & { apiVersion: string; kind: string };
      assert.equal(kc.apiVersion, 'v1');
      assert.equal(kc.kind, 'Config');
      assert.equal(kc['current-context'], 'k3d-openshell-dev');
      assert.deepEqual(namesOf(kc.clusters), ['k3d-openshell-dev']);
    }
  });

  test('corrupt text is a UserError', () => {
    assert.throws(() => mergeText(fixture('corrupt.yaml'), ours, names, '/x/config'), (e: Error) => e instanceof UserError && /\/x\/config is not valid YAML.*nothing was written/.test(e.message));
    assert.throws(() => mergeText(fixture('clusters-scalar.yaml'), ours, names, '/x/config'), (e: Error) => e instanceof UserError && /"clusters" must be a list/.test(e.message));
    assert.throws(() => removeText('- a\n- b\n', names), /not a kubeconfig/);
  });
});

// JSON kubeconfigs (kubectl config view -o json, cloud CLIs) and YAML written as
// one flow mapping: the same guarantees as the block layout, byte for byte.
describe('JSON and flow-mapping kubeconfigs', () => {
  const json = fixture('user.json');
  const parsed = () => JSON.parse(json) as Kc & Record<string, unknown>;
  const ourCluster = '        {\n            "name": "k3d-openshell-dev",\n            "cluster": {\n                "server": "https://0.0.0.0:43123"\n            }\n        },\n';
  const ourUser = ',\n        {\n            "name": "admin@k3d-openshell-dev",\n            "user": {\n                "token": "t"\n            }\n        }';
  // The same file as kubectl would have written it with our entries among the user's: ours in the middle and at the end.
  const withOurs = json
    .replace('        {\n            "name": "staging",\n            "cluster"', ourCluster + '        {\n            "name": "staging",\n            "cluster"')
    .replace('"token": "alice-token"\n            }\n        }', '"token": "alice-token"\n            }\n        }' + ourUser)
    .replace('"current-context": "prod"', '"current-context": "k3d-openshell-dev"');

  test('merging adds only our entries and the file stays JSON; removing them gives the original back byte for byte', () => {
    const merged = mergeText(json, ours, names);
    const kc = JSON.parse(merged) as Kc;
    assert.deepEqual(namesOf(kc.clusters), ['prod', 'staging', 'k3d-openshell-dev']);
    assert.deepEqual(namesOf(kc.users), ['alice', 'admin@k3d-openshell-dev']);
    assert.deepEqual(namesOf(kc.contexts), ['prod', 'staging', 'k3d-openshell-dev']);
    assert.equal(kc['current-context'], 'prod', 'the user\'s current context is kept');
    assert.equal(kc.clusters![2]!.cluster.server, 'https://0.0.0.0:43123');
    // Everything that was there is there, in the same bytes: only insertions after the last item of each list.
    const lines = json.split('\n');
    let at = 0;
    for (const line of lines) {
      const found = merged.indexOf(line.replace(/,$/, ''), at);
      assert.ok(found >= at, `line kept in order: ${line}`);
      at = found;
    }
    assert.equal(removeText(merged, names), json);
    assert.equal(mergeText(merged, ours, names), merged, 'idempotent');
    const rotatedMerge = mergeText(merged, rotated, names);
    assert.equal(rotatedMerge.length, merged.length, 'replaced in place, not appended');
    assert.match(rotatedMerge, /45999/);
    assert.equal(removeText(rotatedMerge, names), json);
  });

  test('a JSON file with no current-context and no users list gets them; removal restores it exactly', () => {
    const sparse = '{\n  "apiVersion": "v1",\n  "kind": "Config",\n  "clusters": [],\n  "contexts": null\n}\n';
    const merged = mergeText(sparse, ours, names);
    const kc = JSON.parse(merged) as Kc;
    assert.equal(kc['current-context'], 'k3d-openshell-dev');
    assert.deepEqual(namesOf(kc.users), ['admin@k3d-openshell-dev']);
    assert.deepEqual(namesOf(kc.contexts), ['k3d-openshell-dev']);
    const removed = removeText(merged, names)!;
    assert.deepEqual(JSON.parse(removed), { apiVersion: 'v1', kind: 'Config', clusters: [], contexts: [], users: [] });
    assert.ok(removed.startsWith('{\n  "apiVersion": "v1",\n  "kind": "Config",\n  "clusters": []'), removed);
    assert.equal(mergeText('{}', ours, names).startsWith('{"clusters": ['), true, 'an empty JSON object is filled inside its braces');
  });

  test('removing ours from a JSON file that kubectl wrote them into touches nothing else', () => {
    assert.ok(hasOurEntries(withOurs, names));
    const removed = removeText(withOurs, names)!;
    // Only our cluster (in the middle), our user (at the end) and our current-context went: the rest is the user's file, byte for byte.
    assert.equal(removed, json.replace(',\n    "current-context": "prod"', ''));
    const kc = JSON.parse(removed) as Kc;
    const before = parsed();
    assert.deepEqual(kc.clusters, before.clusters);
    assert.deepEqual(kc.users, before.users);
    assert.deepEqual(kc.contexts, before.contexts);
    assert.equal(kc['current-context'], undefined, 'it was ours');
    assert.equal(removeText(removed, names), null, 'nothing left to remove');
    // current-context in the middle of the object, and a lone entry in a list.
    const middle = '{"current-context": "k3d-openshell-dev", "clusters": [{"name": "k3d-openshell-dev", "cluster": {}}], "users": [{"name": "u"}], "apiVersion": "v1"}';
    assert.equal(removeText(middle, names), '{"clusters": [], "users": [{"name": "u"}], "apiVersion": "v1"}');
  });

  test('a one-line flow mapping keeps its layout too', () => {
    const flow = '{apiVersion: v1, kind: Config, clusters: [{name: lab, cluster: {server: "https://lab:6443"}}], users: [], contexts: []}  # one line\n';
    const merged = mergeText(flow, ours, names);
    assert.ok(merged.startsWith('{apiVersion: v1, kind: Config, clusters: [{name: lab, cluster: {server: "https://lab:6443"}}, {"cluster":'), merged);
    assert.ok(merged.endsWith('}  # one line\n'));
    assert.equal(load(merged)['current-context'], 'k3d-openshell-dev');
    assert.equal(removeText(merged, names), flow);
  });

  test('through the files: a JSON kubeconfig survives merge and remove with only our entries touched', () => {
    const home = freshDir();
    mkdirSync(join(home, '.kube'));
    const file = join(home, '.kube', 'config');
    writeFileSync(file, json, { mode: 0o600 });
    const r = mergeIntoUser({ ours, names, env: {}, home, ownFile: join(home, 'own.yaml') });
    assert.equal(r.change, 'updated');
    assert.equal(readFileSync(r.backup!, 'utf8'), json);
    const merged = JSON.parse(readFileSync(file, 'utf8')) as Kc;
    assert.deepEqual(namesOf(merged.clusters), ['prod', 'staging', 'k3d-openshell-dev']);
    assert.deepEqual(removeFromUser({ names, env: {}, home }).map((x) => x.change), ['removed']);
    assert.equal(readFileSync(file, 'utf8'), json);
  });

  test('a layout the kit cannot edit in place is refused, naming what to do; the file is not rewritten', () => {
    // A comment between the dash and the item: no line of its own to cut.
    const odd = 'apiVersion: v1\nclusters:\n- # the dev cluster\n  name: k3d-openshell-dev\n  cluster: {server: "https://0.0.0.0:1"}\n- name: prod\n  cluster: {server: "https://prod"}\nkind: Config\n';
    assert.throws(() => removeText(odd, names, '/x/config'), (e: Error) => e instanceof UserError && /\/x\/config: .*cannot remove entries .* without rewriting the rest of the file; nothing was written — remove the cluster k3d-openshell-dev, user admin@k3d-openshell-dev and context k3d-openshell-dev by hand/.test(e.message));
    assert.throws(() => mergeText(odd, ours, names, '/x/config'), (e: Error) => e instanceof UserError && /\/x\/config: .*cannot add entries .*nothing was written — use the cluster's own kubeconfig file \(OPENSHELL_DEV_KUBECONFIG\)/.test(e.message));
    const home = freshDir();
    mkdirSync(join(home, '.kube'));
    const file = join(home, '.kube', 'config');
    writeFileSync(file, odd);
    assert.throws(() => removeFromUser({ names, env: {}, home }), UserError);
    assert.throws(() => mergeIntoUser({ ours, names, env: {}, home, ownFile: join(home, 'own.yaml') }), UserError);
    assert.equal(readFileSync(file, 'utf8'), odd);
    assert.deepEqual(readdirSync(join(home, '.kube')), ['config'], 'no backup, no temp file');
  });
});

describe('files', () => {
  test('a missing file is created with mode 0600, no backup', () => {
    const home = freshDir();
    const r = mergeIntoUser({ ours, names, env: {}, home, ownFile: join(home, 'own.yaml') });
    const file = join(home, '.kube', 'config');
    assert.deepEqual(r, { file, change: 'created' });
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(load(readFileSync(file, 'utf8'))['current-context'], 'k3d-openshell-dev');
    assert.deepEqual(readdirSync(join(home, '.kube')), ['config']);
  });

  for (const bad of ['corrupt.yaml', 'clusters-scalar.yaml']) {
    test(`a corrupt file (${bad}) is refused: unchanged, no backup, no temp file`, () => {
      const home = freshDir();
      mkdirSync(join(home, '.kube'));
      const file = join(home, '.kube', 'config');
      const text = fixture(bad);
      writeFileSync(file, text, { mode: 0o600 });
      assert.throws(() => mergeIntoUser({ ours, names, env: {}, home, ownFile: join(home, 'own.yaml') }), UserError);
      assert.throws(() => removeFromUser({ names, env: {}, home }), UserError);
      assert.equal(readFileSync(file, 'utf8'), text);
      assert.deepEqual(readdirSync(join(home, '.kube')), ['config']);
    });
  }

  test('the merge writes a backup equal to the original; a repeat merge writes nothing', () => {
    const home = freshDir();
    mkdirSync(join(home, '.kube'));
    const file = join(home, '.kube', 'config');
    writeFileSync(file, user, { mode: 0o640 });
    const r = mergeIntoUser({ ours, names, env: {}, home, ownFile: join(home, 'own.yaml') });
    assert.deepEqual(r, { file, change: 'updated', backup: file + BACKUP_SUFFIX });
    assert.equal(readFileSync(file + BACKUP_SUFFIX, 'utf8'), user);
    assert.equal(statSync(file + BACKUP_SUFFIX).mode & 0o777, 0o600, 'the backup holds credentials: owner only');
    assert.equal(statSync(file).mode & 0o777, 0o640, 'the file keeps its mode');
    const merged = readFileSync(file, 'utf8');
    rmSync(file + BACKUP_SUFFIX);
    const mtime = statSync(file).mtimeMs;
    assert.deepEqual(mergeIntoUser({ ours, names, env: {}, home, ownFile: join(home, 'own.yaml') }), { file, change: 'unchanged' });
    assert.equal(existsSync(file + BACKUP_SUFFIX), false, 'no new backup');
    assert.equal(readFileSync(file, 'utf8'), merged);
    assert.equal(statSync(file).mtimeMs, mtime);
    // Dry run: says what it would do, writes nothing.
    const dry = freshDir();
    assert.deepEqual(mergeIntoUser({ ours, names, env: {}, home: dry, ownFile: join(dry, 'own.yaml'), dryRun: true }), { file: join(dry, '.kube', 'config'), change: 'created' });
    assert.equal(existsSync(join(dry, '.kube')), false);
  });

  test('a symlinked kubeconfig stays a symlink; its target is updated', () => {
    const home = freshDir();
    mkdirSync(join(home, '.kube'));
    mkdirSync(join(home, 'dotfiles'));
    const target = join(home, 'dotfiles', 'kubeconfig');
    writeFileSync(target, user);
    const link = join(home, '.kube', 'config');
    symlinkSync(target, link);
    const r = mergeIntoUser({ ours, names, env: {}, home, ownFile: join(home, 'own.yaml') });
    assert.equal(r.file, link);
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readlinkSync(link), target);
    assert.ok(hasOurEntries(readFileSync(target, 'utf8'), names));
    assert.equal(readFileSync(r.backup!, 'utf8'), user);
    assert.deepEqual(readdirSync(join(home, 'dotfiles')), ['kubeconfig'], 'no temp file beside the target');
    removeFromUser({ names, env: {}, home });
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readFileSync(target, 'utf8'), user);
  });

  test('the merge target follows clientcmd: one file, first existing of several, else the last; unset → ~/.kube/config', () => {
    const d = freshDir();
    const [a, b, c] = ['a', 'b', 'c'].map((x) => join(d, x)) as [string, string, string];
    const home = join(d, 'home');
    assert.deepEqual(kubeconfigFiles({}, home), [join(home, '.kube', 'config')]);
    assert.equal(defaultTarget({}, home), join(home, '.kube', 'config'));
    assert.equal(defaultTarget({ KUBECONFIG: a }, home), a, 'one file, even when missing');
    assert.equal(defaultTarget({ KUBECONFIG: `${a}:${b}:${c}` }, home), c, 'none exist: the last');
    writeFileSync(b, user);
    writeFileSync(c, user);
    assert.equal(defaultTarget({ KUBECONFIG: `${a}:${b}:${c}` }, home), b, 'the first that exists');
    assert.deepEqual(kubeconfigFiles({ KUBECONFIG: `::${a}::${b}` }, home), [a, b], 'empty entries are ignored');
    // mergeIntoUser: a file already holding our entries wins over the default target.
    writeFileSync(c, mergeText(user, ours, names));
    const r = mergeIntoUser({ ours: rotated, names, env: { KUBECONFIG: `${a}:${b}:${c}` }, home, ownFile: join(d, 'own.yaml') });
    assert.equal(r.file, c);
    assert.match(readFileSync(c, 'utf8'), /45999/);
    assert.equal(readFileSync(b, 'utf8'), user);
    assert.equal(existsSync(a), false);
    // When the target is our own file, nothing is merged into it.
    const own = join(d, 'own.yaml');
    writeFileSync(own, ours);
    assert.deepEqual(mergeIntoUser({ ours: rotated, names, env: { KUBECONFIG: own }, home, ownFile: own }), { file: own, change: 'unchanged' });
    assert.equal(readFileSync(own, 'utf8'), ours);
  });

  test('removeFromUser cleans every file kubectl reads and leaves the others alone', () => {
    const d = freshDir();
    const [a, b, c, missing] = ['a', 'b', 'c', 'missing'].map((x) => join(d, x)) as [string, string, string, string];
    writeFileSync(a, mergeText(user, ours, names));
    writeFileSync(b, user);
    writeFileSync(c, mergeText(fixture('indented.yaml'), ours, names));
    const env = { KUBECONFIG: [a, b, missing, c].join(':') };
    const dry = removeFromUser({ names, env, home: d, dryRun: true });
    assert.deepEqual(dry.map((r) => r.file), [a, c]);
    assert.ok(hasOurEntries(readFileSync(a, 'utf8'), names), 'dry run writes nothing');
    const results = removeFromUser({ names, env, home: d });
    assert.deepEqual(results, [
      { file: a, change: 'removed', backup: a + BACKUP_SUFFIX },
      { file: c, change: 'removed', backup: c + BACKUP_SUFFIX },
    ]);
    assert.equal(readFileSync(a, 'utf8'), user);
    assert.equal(readFileSync(a + BACKUP_SUFFIX, 'utf8'), mergeText(user, ours, names), 'the backup is the file before the removal');
    assert.equal(readFileSync(b, 'utf8'), user);
    assert.equal(hasOurEntries(readFileSync(c, 'utf8'), names), false);
    assert.equal(existsSync(b + BACKUP_SUFFIX), false);
    assert.equal(existsSync(missing), false);
    assert.deepEqual(removeFromUser({ names, env, home: d }), [], 'idempotent');
  });

  test('Windows line endings and a dash on a line of its own keep their bytes', () => {
    const crlf = user.replaceAll('\n', '\r\n');
    const merged = mergeText(crlf, ours, names);
    assert.deepEqual(namesOf(load(merged).clusters), ['prod', 'staging', 'staging', 'k3d-openshell-dev']);
    assert.equal(removeText(merged, names), crlf);
    const dash = 'apiVersion: v1\nclusters:\n-\n  name: a\n  cluster: {}\n';
    const m2 = mergeText(dash, ours, names);
    assert.ok(m2.startsWith(dash), m2);
    assert.equal(removeText(m2, names), dash + 'users:\ncontexts:\n');
  });

  test('a comment-only file without a final newline; a cluster kubeconfig missing one of ours is refused', () => {
    const merged = mergeText('# mine', ours, names);
    assert.ok(merged.startsWith('# mine\napiVersion: v1\n'), merged);
    const noUser = ours.replace(/users:[\s\S]*$/, 'users: []\n');
    assert.throws(() => mergeText(user, noUser, names), (e: Error) => e instanceof UserError && e.message === 'the cluster kubeconfig has no user named admin@k3d-openshell-dev');
  });

  test('modes: a new directory is 0700; a file\'s own mode is kept even where the umask would narrow it; a dry run on an existing file says updated', () => {
    const d = freshDir();
    writeOwnFile(join(d, 'new-dir', 'own.yaml'), ours);
    assert.equal(statSync(join(d, 'new-dir')).mode & 0o777, 0o700);
    const f = join(d, 'wide.yaml');
    writeFileSync(f, ours);
    chmodSync(f, 0o666);
    atomicWrite(f, rotated);
    assert.equal(statSync(f).mode & 0o777, 0o666);
    const home = freshDir();
    mkdirSync(join(home, '.kube'));
    writeFileSync(join(home, '.kube', 'config'), user);
    assert.deepEqual(mergeIntoUser({ ours, names, env: {}, home, ownFile: join(home, 'own.yaml'), dryRun: true }), { file: join(home, '.kube', 'config'), change: 'updated' });
    assert.equal(readFileSync(join(home, '.kube', 'config'), 'utf8'), user);
  });

  test('default names in messages; the parser\'s own reason is quoted', () => {
    assert.throws(() => hasOurEntries('{', names), /^Error: kubeconfig is not valid YAML \(.{8,}\); nothing was written/);
    assert.throws(() => mergeText('- a\n', ours, names), /^Error: kubeconfig is not a kubeconfig/);
    assert.throws(() => removeText('- a\n', names), /^Error: kubeconfig is not a kubeconfig/);
  });

  test('ours first in a flow list, ours last without a final newline, ours with a trailing comment: replaced or removed in place', () => {
    const first = 'apiVersion: v1\nclusters: [{name: k3d-openshell-dev, cluster: {server: "https://old"}}, {name: lab, cluster: {server: "https://lab"}}]\n';
    const merged = mergeText(first, ours, names);
    assert.ok(merged.includes('{name: lab, cluster: {server: "https://lab"}}]'), merged);
    assert.deepEqual(namesOf(load(merged).clusters), ['k3d-openshell-dev', 'lab']);
    const atEnd = 'apiVersion: v1\ncurrent-context: x\nusers: []\ncontexts: []\nclusters:\n- name: k3d-openshell-dev\n  cluster: {server: "https://old"}';
    const again = mergeText(atEnd, ours, names);
    assert.equal(again.endsWith('\n'), false, 'no newline added at the end');
    assert.ok(again.startsWith('apiVersion: v1\ncurrent-context: x\nusers: ['), again);
    assert.equal(load(again).clusters![0]!.cluster.server, 'https://0.0.0.0:43123');
    const commented = mergeText('apiVersion: v1\nkind: Config\n', ours, names).replace('  name: k3d-openshell-dev\nusers:', '  name: k3d-openshell-dev   # added by hand\nusers:');
    assert.match(commented, /# added by hand/);
    assert.doesNotMatch(removeText(commented, names)!, /added by hand|k3d-openshell-dev/);
  });

  test('no final newline, with edits inside and new sections at the end: each new section starts on its own line', () => {
    const text = 'apiVersion: v1\nclusters:\n- name: a\n  cluster: {}\ncurrent-context: x';
    const merged = mergeText(text, ours, names);
    assert.ok(merged.includes('current-context: x\nusers:\n'), merged);
    assert.doesNotMatch(merged, /\n\n/);
    const bare = mergeText('apiVersion: v1\nkind: Config', ours, names);
    assert.ok(bare.startsWith('apiVersion: v1\nkind: Config\nclusters:\n- '), bare);
  });

  test('a corrupt cluster kubeconfig is named as such; a new kubeconfig adds no blank line', () => {
    assert.throws(() => mergeText(user, '{', names), /^Error: the cluster kubeconfig is not valid YAML/);
    assert.ok(mergeText('', ours, names).startsWith('apiVersion: v1\nkind: Config\n'));
    assert.ok(mergeText('# c\n', ours, names).startsWith('# c\napiVersion: v1\n'));
  });

  test('a JSON file with an empty current-context gets ours in place', () => {
    const json = '{"apiVersion": "v1", "clusters": [], "users": [], "contexts": [], "current-context": ""}';
    const merged = mergeText(json, ours, names);
    assert.ok(merged.endsWith('"current-context": "k3d-openshell-dev"}'), merged);
    assert.equal(removeText(merged, names), '{"apiVersion": "v1", "clusters": [], "users": [], "contexts": []}');
  });

  test('only our entries are taken from the cluster kubeconfig, long values stay on one line; one without a section is refused', () => {
    const long = 'a value with spaces that is much longer than eighty characters, so a folding writer would wrap it';
    const busy = ours.replace('clusters:\n', 'clusters:\n- cluster: {server: "https://other"}\n  name: other\n').replace('client-key-data: S0VZLU9ORQ==', `client-key-data: S0VZLU9ORQ==\n    username: ${long}`);
    const merged = mergeText(user, busy, names);
    assert.deepEqual(namesOf(load(merged).clusters), ['prod', 'staging', 'staging', 'k3d-openshell-dev']);
    assert.ok(merged.includes(`username: ${long}\n`), merged);
    assert.throws(() => mergeText(user, ours.replace(/users:[\s\S]*$/, ''), names), /the cluster kubeconfig has no user named admin@k3d-openshell-dev/);
  });

  test('our own file existing does not stop a merge into a user file that does not exist yet', () => {
    const home = freshDir();
    const own = join(home, 'own.yaml');
    writeFileSync(own, ours);
    const r = mergeIntoUser({ ours, names, env: {}, home, ownFile: own });
    assert.equal(r.change, 'created');
    assert.ok(hasOurEntries(readFileSync(join(home, '.kube', 'config'), 'utf8'), names));
    assert.equal(mergeIntoUser({ ours: rotated, names, env: {}, home, ownFile: own }).change, 'updated', 'both files exist and differ: merged');
  });

  test('a failed rename leaves no temporary file behind', () => {
    const d = freshDir();
    const target = join(d, 'config');
    mkdirSync(target);
    writeFileSync(join(target, 'inside'), 'x');
    assert.throws(() => atomicWrite(target, ours));
    assert.deepEqual(readdirSync(d), ['config']);
  });

  test('a current-context with no value, or spaces after it, is filled in place', () => {
    for (const line of ['current-context:\n', 'current-context:   \n', 'current-context: null\n', 'current-context: ~\n']) {
      const text = `apiVersion: v1\nkind: Config\n${line}preferences: {}\n`;
      const merged = mergeText(text, ours, names);
      assert.equal(load(merged)['current-context'], 'k3d-openshell-dev', line);
      assert.ok(merged.includes('current-context: k3d-openshell-dev\npreferences: {}\n'), merged);
      assert.ok(merged.startsWith('apiVersion: v1\nkind: Config\n'), merged);
    }
  });

  test('a file without a final newline: ours go on lines of their own', () => {
    const text = 'apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster: {server: "https://a"}';
    const merged = mergeText(text, ours, names);
    assert.ok(merged.startsWith(text + '\n'), merged);
    assert.deepEqual(namesOf(load(merged).clusters), ['a', 'k3d-openshell-dev']);
    assert.ok(merged.includes('"https://a"}\n- cluster:'), merged);
    assert.doesNotMatch(merged, /\n\n/, 'no blank line');
    // Removal keeps every byte of the original; only the sections we added stay, empty.
    assert.equal(removeText(merged, names), text + '\nusers:\ncontexts:\n');
  });

  test('atomicWrite and writeOwnFile leave no temp files and keep modes', () => {
    const d = freshDir();
    const f = join(d, 'sub', 'own.yaml');
    assert.equal(writeOwnFile(f, ours), 'created');
    assert.equal(statSync(f).mode & 0o777, 0o600);
    assert.equal(writeOwnFile(f, ours), 'unchanged');
    assert.equal(writeOwnFile(f, rotated, true), 'updated');
    assert.equal(readFileSync(f, 'utf8'), ours, 'dry run');
    chmodSync(f, 0o644);
    atomicWrite(f, rotated);
    assert.equal(readFileSync(f, 'utf8'), rotated);
    assert.equal(statSync(f).mode & 0o777, 0o644);
    assert.deepEqual(readdirSync(join(d, 'sub')), ['own.yaml']);
  });
});

test('client-node merges several files unlike kubectl: last current-context wins, duplicates throw', async () => {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const d = freshDir();
  const first = join(d, 'first');
  const second = join(d, 'second');
  writeFileSync(first, user);
  writeFileSync(second, fixture('indented.yaml').replace('current-context: ""', 'current-context: lab'));
  // What loadFromDefault does with KUBECONFIG=first:second.
  const kc = new KubeConfig();
  kc.loadFromFile(first);
  const other = new KubeConfig();
  other.loadFromFile(second);
  kc.mergeConfig(other);
  assert.equal(kc.getCurrentContext(), 'lab', 'client-node: the last file\'s current-context');
  // kubectl would use the first file's (prod) and write to the first existing file, as we do.
  assert.equal(defaultTarget({ KUBECONFIG: `${first}:${second}` }, d), first);
  assert.equal(load(readFileSync(first, 'utf8'))['current-context'], 'prod');
  // A name defined in both files: kubectl keeps the first; client-node throws.
  const dup = new KubeConfig();
  dup.loadFromFile(first);
  const again = new KubeConfig();
  again.loadFromFile(first);
  assert.throws(() => dup.mergeConfig(again), /Duplicate cluster: prod/);
});
