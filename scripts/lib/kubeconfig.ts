// Kubeconfig handling that never clobbers a user's file. The cluster's own
// kubeconfig lives in its own file; merging into the user's default kubeconfig
// is opt-in, touches only our named entries, writes atomically after a backup,
// and keeps everything else byte-for-byte (comments and order included).
//
// Which file kubectl writes to follows clientcmd's rules: with KUBECONFIG set to
// one file, that file; to several, the first that exists, else the last one;
// unset, ~/.kube/config. (client-node merges several files differently — last
// current-context wins, duplicate names throw — so we only ever load our own
// single file into it.)
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import { UserError } from './task.ts';

export interface KubeNames {
  context: string;
  cluster: string;
  user: string;
}

const SECTIONS = [
  ['clusters', 'cluster'],
  ['users', 'user'],
  ['contexts', 'context'],
] as const;

export const BACKUP_SUFFIX = '.openshell-dev.bak';

export function kubeconfigFiles(env: NodeJS.ProcessEnv, home: string): string[] {
  const list = (env.KUBECONFIG ?? '').split(':').filter((p) => p !== '');
  return list.length > 0 ? list : [join(home, '.kube', 'config')];
}

/** The file kubectl would write a new entry to (clientcmd's GetDefaultFilename). */
export function defaultTarget(env: NodeJS.ProcessEnv, home: string): string {
  const files = kubeconfigFiles(env, home);
  if (files.length === 1) return files[0]!;
  return files.find((f) => existsSync(f)) ?? files[files.length - 1]!;
}

function parseKubeconfig(text: string, path: string): Document {
  const doc = parseDocument(text, { keepSourceTokens: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new UserError(`${path} is not valid YAML (${e.message.split('\n')[0]}); nothing was written — fix or move the file and re-run`);
  }
  if (doc.contents !== null && !isMap(doc.contents)) {
    throw new UserError(`${path} is not a kubeconfig (expected a mapping at the top); nothing was written`);
  }
  for (const [section] of SECTIONS) {
    const node = doc.get(section, true);
    const empty = node === undefined || node === null || (isScalar(node) && node.value === null);
    if (!empty && !isSeq(node)) {
      throw new UserError(`${path}: "${section}" must be a list; nothing was written`);
    }
  }
  return doc;
}

function namesIn(doc: Document, section: string): string[] {
  const seq = doc.get(section, true);
  if (!isSeq(seq)) return [];
  return seq.items.map((item) => (isMap(item) ? String(item.get('name') ?? '') : ''));
}

function ourName(names: KubeNames, key: 'cluster' | 'user' | 'context'): string {
  return names[key];
}

/** Does the document define any of our entries? */
export function hasOurEntries(text: string, names: KubeNames, path = 'kubeconfig'): boolean {
  const doc = parseKubeconfig(text, path);
  return SECTIONS.some(([section, key]) => namesIn(doc, section).includes(ourName(names, key)));
}

/**
 * Our entries from `ours` (a complete kubeconfig for our cluster) merged into
 * `text`: entries with our names are replaced in place (or appended), nothing
 * else changes. current-context is set only when the file has none.
 */
export function mergeText(text: string, ours: string, names: KubeNames, path = 'kubeconfig'): string {
  const doc = parseKubeconfig(text, path);
  const src = parseKubeconfig(ours, 'the cluster kubeconfig');
  if (doc.contents === null) {
    doc.contents = doc.createNode({ apiVersion: 'v1', kind: 'Config', preferences: {} }) as never;
  }
  for (const [section, key] of SECTIONS) {
    const entry = (src.get(section, true) as { items?: unknown[] } | undefined)?.items?.find(
      (item) => isMap(item) && item.get('name') === ourName(names, key),
    );
    if (entry === undefined) throw new UserError(`the cluster kubeconfig has no ${key} named ${ourName(names, key)}`);
    let seq = doc.get(section, true);
    if (!isSeq(seq)) {
      doc.set(section, doc.createNode([]));
      seq = doc.get(section, true);
    }
    if (!isSeq(seq)) throw new UserError(`${path}: "${section}" must be a list; nothing was written`);
    const index = seq.items.findIndex((item) => isMap(item) && item.get('name') === ourName(names, key));
    const node = doc.createNode((entry as { toJSON(): unknown }).toJSON());
    if (index >= 0) seq.items[index] = node;
    else seq.items.push(node);
  }
  const current = doc.get('current-context');
  if (current === undefined || current === null || current === '') doc.set('current-context', names.context);
  return doc.toString();
}

/** `text` without our entries (current-context dropped if it was ours); null when there is nothing to remove. */
export function removeText(text: string, names: KubeNames, path = 'kubeconfig'): string | null {
  const doc = parseKubeconfig(text, path);
  let changed = false;
  for (const [section, key] of SECTIONS) {
    const seq = doc.get(section, true);
    if (!isSeq(seq)) continue;
    const before = seq.items.length;
    seq.items = seq.items.filter((item) => !(isMap(item) && item.get('name') === ourName(names, key)));
    changed ||= seq.items.length !== before;
  }
  if (doc.get('current-context') === names.context) {
    doc.delete('current-context');
    changed = true;
  }
  return changed ? doc.toString() : null;
}

/** Write atomically: a temp file beside the target, then rename (a symlinked target stays a symlink). */
export function atomicWrite(path: string, text: string, mode = 0o600): void {
  const real = existsSync(path) ? realpathSync(path) : path;
  mkdirSync(dirname(real), { recursive: true, mode: 0o700 });
  const keepMode = existsSync(real) ? statSync(real).mode & 0o777 : mode;
  const tmp = `${real}.tmp-${process.pid}-${Date.now()}`;
  try {
    writeFileSync(tmp, text, { mode: keepMode });
    chmodSync(tmp, keepMode);
    renameSync(tmp, real);
  } finally {
    rmSync(tmp, { force: true });
  }
}

export type Change = 'created' | 'updated' | 'unchanged' | 'removed' | 'absent';

/** Write the cluster's own kubeconfig file; unchanged content is not rewritten. */
export function writeOwnFile(path: string, text: string, dryRun = false): Change {
  const before = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  if (before === text) return 'unchanged';
  if (!dryRun) atomicWrite(path, text);
  return before === undefined ? 'created' : 'updated';
}

export interface MergeResult {
  file: string;
  change: Change;
  backup?: string;
}

/** Merge our entries into the user's kubeconfig (kubectl's target file), with a backup. */
export function mergeIntoUser(opts: { ours: string; names: KubeNames; env: NodeJS.ProcessEnv; home: string; ownFile: string; dryRun?: boolean }): MergeResult {
  const files = kubeconfigFiles(opts.env, opts.home);
  // Update the file that already holds our entries; else the one kubectl would write to.
  const file = files.find((f) => existsSync(f) && hasOurEntries(readFileSync(f, 'utf8'), opts.names, f)) ?? defaultTarget(opts.env, opts.home);
  if (existsSync(file) && existsSync(opts.ownFile) && realpathSync(file) === realpathSync(opts.ownFile)) return { file, change: 'unchanged' };
  const before = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const after = mergeText(before, opts.ours, opts.names, file);
  if (after === before) return { file, change: 'unchanged' };
  if (opts.dryRun) return { file, change: before ? 'updated' : 'created' };
  let backup: string | undefined;
  if (before) {
    backup = file + BACKUP_SUFFIX;
    copyFileSync(realpathSync(file), backup);
    chmodSync(backup, 0o600);
  }
  atomicWrite(file, after);
  return { file, change: before ? 'updated' : 'created', ...(backup ? { backup } : {}) };
}

/** Remove our entries from every kubeconfig file kubectl reads; other entries are untouched. */
export function removeFromUser(opts: { names: KubeNames; env: NodeJS.ProcessEnv; home: string; dryRun?: boolean }): MergeResult[] {
  const results: MergeResult[] = [];
  for (const file of kubeconfigFiles(opts.env, opts.home)) {
    if (!existsSync(file)) continue;
    const before = readFileSync(file, 'utf8');
    const after = removeText(before, opts.names, file);
    if (after === null) continue;
    if (!opts.dryRun) {
      copyFileSync(realpathSync(file), file + BACKUP_SUFFIX);
      atomicWrite(file, after);
    }
    results.push({ file, change: 'removed', backup: file + BACKUP_SUFFIX });
  }
  return results;
}
