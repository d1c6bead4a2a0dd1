// Kubeconfig handling that never clobbers a user's file. The cluster's own
// kubeconfig lives in its own file; merging into the user's default kubeconfig
// is opt-in, touches only our named entries, writes atomically after a backup,
// and keeps everything else byte-for-byte (comments, order and quoting included:
// our entries are spliced into the text, the rest is never re-serialised).
//
// Which file kubectl writes to follows clientcmd's rules: with KUBECONFIG set to
// one file, that file; to several, the first that exists, else the last one;
// unset, ~/.kube/config. (client-node merges several files differently — last
// current-context wins, duplicate names throw — so we only ever load our own
// single file into it.)
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, stringify, type Document, type Pair, type Scalar } from 'yaml';
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

// Edits are made to the text itself, at the source ranges of the parsed nodes:
// re-serialising the parsed document would re-indent sequences, respace flow
// mappings and comments, and so rewrite every line of the user's file.
interface Edit {
  start: number;
  end: number;
  text: string;
}

function applyEdits(text: string, edits: Edit[]): string {
  let out = text;
  // From the end backwards; insertions at one position end up in the order they were made.
  const order = edits.map((e, i) => ({ e, i })).sort((a, b) => b.e.start - a.e.start || b.i - a.i);
  for (const { e } of order) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

const lineStart = (text: string, i: number) => text.lastIndexOf('\n', i - 1) + 1;
/** The end of a node, extended to the end of its line (past a trailing comment). */
function lineEnd(text: string, i: number): number {
  if (i >= text.length || text[i - 1] === '\n') return i;
  const n = text.indexOf('\n', i);
  return n < 0 ? text.length : n + 1;
}

type Ranged = { range?: [number, number, number] | null };
const rangeOf = (node: unknown) => (node as Ranged | null)?.range ?? undefined;

/** Where a block sequence item's line starts, and the indentation of its `-`; undefined when the layout is unusual. */
function blockItemStart(text: string, item: unknown): { start: number; indent: string } | undefined {
  const r = rangeOf(item);
  if (!r) return undefined;
  let j = r[0] - 1;
  while (j >= 0 && (text[j] === ' ' || text[j] === '\n' || text[j] === '\r' || text[j] === '\t')) j--;
  if (text[j] !== '-') return undefined;
  const start = lineStart(text, j);
  const indent = text.slice(start, j);
  return /^ *$/.test(indent) ? { start, indent } : undefined;
}

/** One block sequence item at `indent`, ending with a newline. */
function blockItem(value: unknown, indent: string): string {
  return stringify([value], { lineWidth: 0 })
    .split('\n')
    .map((l) => (l === '' ? l : indent + l))
    .join('\n');
}

const scalarText = (v: string) => stringify(v, { lineWidth: 0 }).trimEnd();

/** The top-level pair for `key`, if the top level is a block mapping. */
function topPair(doc: Document, key: string): Pair<Scalar, unknown> | undefined {
  const map = doc.contents;
  if (!isMap(map)) return undefined;
  return map.items.find((p) => isScalar(p.key) && p.key.value === key) as Pair<Scalar, unknown> | undefined;
}

const isNullish = (node: unknown) => node === null || node === undefined || (isScalar(node) && (node.value === null || node.value === ''));

/** Text edits that put our entries into `text` (undefined: a layout we do not edit in place). */
function mergeEdits(text: string, doc: Document, src: Document, names: KubeNames): Edit[] | undefined {
  const top = doc.contents;
  if (!isMap(top)) return undefined;
  // A flow mapping at the top (JSON, or YAML written as `{...}`): new pairs go
  // inside its braces, values in JSON, which is valid in both.
  const flowTop = top.flow === true;
  const edits: Edit[] = [];
  let tail = '';
  const newPairs: string[] = [];
  for (const [section, key] of SECTIONS) {
    const entry = entryFrom(src, section, ourName(names, key));
    const pair = topPair(doc, section);
    const seq = pair?.value;
    if (pair === undefined) {
      if (flowTop) newPairs.push(`${JSON.stringify(section)}: [${JSON.stringify(entry)}]`);
      else tail += `${section}:\n${blockItem(entry, '')}`;
    } else if (isNullish(seq) && flowTop) {
      const r = rangeOf(seq);
      if (!r || !isScalar(seq)) return undefined;
      edits.push({ start: r[0], end: r[1], text: `[${JSON.stringify(entry)}]` });
    } else if (isNullish(seq)) {
      const r = rangeOf(seq) ?? rangeOf(pair.key);
      if (!r) return undefined;
      let start = isScalar(seq) ? r[0] : r[1];
      while (text[start - 1] === ' ') start--;
      edits.push({ start, end: r[1], text: '\n' + blockItem(entry, '').trimEnd() });
    } else if (isSeq(seq) && seq.flow) {
      const json = JSON.stringify(entry);
      const index = seq.items.findIndex((item) => isMap(item) && item.get('name') === ourName(names, key));
      const at = rangeOf(seq.items[index >= 0 ? index : seq.items.length - 1]);
      const whole = rangeOf(seq);
      if (index >= 0 && at) edits.push({ start: at[0], end: at[1], text: json });
      else if (at) edits.push({ start: at[1], end: at[1], text: `, ${json}` });
      else if (whole) edits.push({ start: whole[0], end: whole[1], text: `[${json}]` });
      else return undefined;
    } else if (isSeq(seq)) {
      const first = blockItemStart(text, seq.items[0]);
      if (!first) return undefined;
      const index = seq.items.findIndex((item) => isMap(item) && item.get('name') === ourName(names, key));
      if (index >= 0) {
        const at = blockItemStart(text, seq.items[index]);
        const r = rangeOf(seq.items[index]);
        if (!at || !r) return undefined;
        const end = lineEnd(text, r[2]);
        const item = blockItem(entry, at.indent);
        edits.push({ start: at.start, end, text: text[end - 1] === '\n' ? item : item.trimEnd() });
      } else {
        const r = rangeOf(seq.items[seq.items.length - 1]);
        if (!r) return undefined;
        const end = lineEnd(text, r[2]);
        edits.push({ start: end, end, text: (text[end - 1] === '\n' ? '' : '\n') + blockItem(entry, first.indent) });
      }
    } else {
      return undefined;
    }
  }
  const current = topPair(doc, 'current-context');
  if (current === undefined) {
    if (flowTop) newPairs.push(`"current-context": ${JSON.stringify(names.context)}`);
    else tail += `current-context: ${scalarText(names.context)}\n`;
  } else if (isNullish(current.value) && flowTop) {
    const r = rangeOf(current.value);
    if (!r || !isScalar(current.value)) return undefined;
    edits.push({ start: r[0], end: r[1], text: JSON.stringify(names.context) });
  } else if (isNullish(current.value)) {
    const r = rangeOf(current.value) ?? rangeOf(current.key);
    if (!r) return undefined;
    let start = isScalar(current.value) ? r[0] : r[1];
    while (text[start - 1] === ' ') start--;
    edits.push({ start, end: r[1], text: ` ${scalarText(names.context)}` });
  }
  if (newPairs.length > 0) {
    const last = top.items[top.items.length - 1];
    const end = last === undefined ? undefined : (rangeOf(last.value) ?? rangeOf(last.key));
    const whole = rangeOf(top);
    if (end) edits.push({ start: end[1], end: end[1], text: `, ${newPairs.join(', ')}` });
    else if (last === undefined && whole) edits.push({ start: whole[0], end: whole[1], text: `{${newPairs.join(', ')}}` });
    else return undefined;
  }
  const endsInNewline = text === '' || text.endsWith('\n') || edits.some((e) => e.start === text.length && e.text.endsWith('\n'));
  if (tail !== '') edits.push({ start: text.length, end: text.length, text: (endsInNewline ? '' : '\n') + tail });
  return edits;
}

function entryFrom(src: Document, section: string, name: string): unknown {
  const entry = (src.get(section, true) as { items?: unknown[] } | undefined)?.items?.find((item) => isMap(item) && item.get('name') === name);
  if (entry === undefined) throw new UserError(`the cluster kubeconfig has no ${section.slice(0, -1)} named ${name}`);
  return (entry as { toJSON(): unknown }).toJSON();
}

/** The same merge on the parsed document: what the text edits must amount to (never written: it re-serialises every line). */
function mergeByDocument(doc: Document, src: Document, names: KubeNames, path: string): string {
  for (const [section, key] of SECTIONS) {
    const entry = entryFrom(src, section, ourName(names, key));
    let seq = doc.get(section, true);
    if (!isSeq(seq)) {
      doc.set(section, doc.createNode([]));
      seq = doc.get(section, true);
    }
    if (!isSeq(seq)) throw new UserError(`${path}: "${section}" must be a list; nothing was written`);
    const index = seq.items.findIndex((item) => isMap(item) && item.get('name') === ourName(names, key));
    const node = doc.createNode(entry);
    if (index >= 0) seq.items[index] = node;
    else seq.items.push(node);
  }
  const current = doc.get('current-context');
  if (current === undefined || current === null || current === '') doc.set('current-context', names.context);
  return doc.toString();
}

/** Our entries, as the JSON a file holds for them (to check a text edit). */
function ourEntries(doc: Document, names: KubeNames): string {
  return JSON.stringify([
    ...SECTIONS.map(([section, key]) => (doc.get(section, true) as { items?: unknown[] } | undefined)?.items?.find((i) => isMap(i) && i.get('name') === ourName(names, key))),
    doc.get('current-context'),
  ]);
}

/**
 * Our entries from `ours` (a complete kubeconfig for our cluster) merged into
 * `text`: entries with our names are replaced in place (or appended), nothing
 * else changes, byte for byte. current-context is set only when the file has none.
 */
export function mergeText(text: string, ours: string, names: KubeNames, path = 'kubeconfig'): string {
  let doc = parseKubeconfig(text, path);
  const src = parseKubeconfig(ours, 'the cluster kubeconfig');
  let base = text;
  if (doc.contents === null) {
    base = text + (text === '' || text.endsWith('\n') ? '' : '\n') + 'apiVersion: v1\nkind: Config\npreferences: {}\n';
    doc = parseKubeconfig(base, path);
  }
  const edits = mergeEdits(base, doc, src, names);
  if (edits !== undefined) {
    const out = applyEdits(base, edits);
    // The edited text must say exactly what the document merge says; else use that.
    const check = parseDocument(out);
    const expected = parseKubeconfig(mergeByDocument(parseKubeconfig(base, path), src, names, path), path);
    if (check.errors.length === 0 && JSON.stringify(check.toJSON()) === JSON.stringify(expected.toJSON()) && ourEntries(check, names) === ourEntries(expected, names)) return out;
  }
  throw new UserError(
    `${path}: its layout is one the kit cannot add entries to without rewriting the rest of the file; nothing was written — use the cluster's own kubeconfig file (OPENSHELL_DEV_KUBECONFIG) or add ${names.context} by hand`,
  );
}

/**
 * `text` without our entries (current-context dropped if it was ours), every
 * other byte kept; null when there is nothing to remove. A layout whose text
 * cannot be edited in place is refused (a UserError), never re-serialised.
 */
export function removeText(text: string, names: KubeNames, path = 'kubeconfig'): string | null {
  const doc = parseKubeconfig(text, path);
  const edits: Edit[] = [];
  let inPlace = isMap(doc.contents);
  let found = false;
  for (const [section, key] of SECTIONS) {
    const seq = doc.get(section, true);
    if (!isSeq(seq)) continue;
    seq.items.forEach((item, i) => {
      if (!(isMap(item) && item.get('name') === ourName(names, key))) return;
      found = true;
      const r = rangeOf(item);
      if (!r) return void (inPlace = false);
      if (seq.flow) edits.push(flowItemRemoval(rangeOf(seq.items[i - 1]), r, rangeOf(seq.items[i + 1])));
      else {
        const at = blockItemStart(text, item);
        if (!at) return void (inPlace = false);
        edits.push({ start: at.start, end: lineEnd(text, r[2]), text: '' });
      }
    });
  }
  const current = topPair(doc, 'current-context');
  const currentIsOurs = current !== undefined && isScalar(current.value) && current.value.value === names.context;
  if (currentIsOurs && isMap(doc.contents)) {
    const k = rangeOf(current.key);
    const v = rangeOf(current.value);
    const items = doc.contents.items;
    const i = items.indexOf(current);
    if (!k || !v) inPlace = false;
    else if (doc.contents.flow) {
      const pairRange = (p: Pair | undefined): [number, number, number] | undefined => {
        const pk = rangeOf(p?.key);
        const pv = rangeOf(p?.value);
        return pk && pv ? [pk[0], pv[1], pv[2]] : undefined;
      };
      edits.push(flowItemRemoval(pairRange(items[i - 1] as Pair | undefined), [k[0], v[1], v[2]], pairRange(items[i + 1] as Pair | undefined)));
    } else edits.push({ start: lineStart(text, k[0]), end: lineEnd(text, v[2]), text: '' });
  }
  if (!found && !currentIsOurs) return null;
  if (inPlace) {
    const out = applyEdits(text, edits);
    const check = parseDocument(out);
    if (check.errors.length === 0 && JSON.stringify(emptyListsAsNull(check.toJSON())) === JSON.stringify(emptyListsAsNull(withoutOurs(text, names, path)))) return out;
  }
  throw new UserError(
    `${path}: its layout is one the kit cannot remove entries from without rewriting the rest of the file; nothing was written — remove the cluster ${names.cluster}, user ${names.user} and context ${names.context} by hand`,
  );
}

/** The edit that removes one item of a flow collection with its separating comma. */
function flowItemRemoval(prev: [number, number, number] | undefined, r: [number, number, number], next: [number, number, number] | undefined): Edit {
  if (next) return { start: r[0], end: next[0], text: '' };
  if (prev) return { start: prev[1], end: r[1], text: '' };
  return { start: r[0], end: r[1], text: '' };
}

/** An emptied list and a key with no value mean the same to kubectl (`users:` once our only user is gone). */
function emptyListsAsNull(json: unknown): unknown {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return json;
  const out: Record<string, unknown> = { ...(json as Record<string, unknown>) };
  for (const [section] of SECTIONS) if (Array.isArray(out[section]) && (out[section] as unknown[]).length === 0) out[section] = null;
  return out;
}

/** What the file says once our entries are gone: the text edits must amount to exactly this. */
function withoutOurs(text: string, names: KubeNames, path: string): unknown {
  const doc = parseKubeconfig(text, path);
  for (const [section, key] of SECTIONS) {
    const seq = doc.get(section, true);
    if (isSeq(seq)) seq.items = seq.items.filter((item) => !(isMap(item) && item.get('name') === ourName(names, key)));
  }
  if (doc.get('current-context') === names.context) doc.delete('current-context');
  return doc.toJSON();
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
