// The real node's pure helpers: reading `iptables -S` rules back into
// arguments (down deletes the jumps into KUBE-/CNI- chains with them).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { splitRule } from '../bed/realnode.ts';

test('splitRule keeps a quoted comment as one argument', () => {
  assert.deepEqual(splitRule('-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD'), [
    '-A',
    'FORWARD',
    '-m',
    'comment',
    '--comment',
    'kubernetes forwarding rules',
    '-j',
    'KUBE-FORWARD',
  ]);
});

test('splitRule unescapes quotes inside a quoted argument', () => {
  assert.deepEqual(splitRule('-A X -m comment --comment "a \\"b\\" c" -j CNI-1'), ['-A', 'X', '-m', 'comment', '--comment', 'a "b" c', '-j', 'CNI-1']);
});

test('splitRule of a plain rule is its words', () => {
  assert.deepEqual(splitRule('-A POSTROUTING -s 10.244.0.0/24 -j CNI-abc'), ['-A', 'POSTROUTING', '-s', '10.244.0.0/24', '-j', 'CNI-abc']);
});
