// Loaded by scripts/test.ts into every test process (`node --test --import`):
// a skipped suite still counts its tests. node:test never calls the body of a
// `describe(name, { skip }, fn)`, so its tests are unknown and the suite would
// count as a single skip ("0 passed, 14 skipped" for 77 tests). Here such a
// suite's body runs to register its tests, each marked skipped with the suite's
// reason, and its hooks are dropped (they would set up what is missing).
// Suite bodies therefore only register tests and hooks; setup belongs in hooks.
//
// How: node:test creates every test and suite through Test.prototype.createSubtest
// and every hook through createHook, with the caller's file and line already
// taken. Those two methods are wrapped, so test files import node:test as usual
// and every test keeps its own location. node:test does not export the Test
// class; its prototype is taken from the root test when node:test creates it
// (the first `test` or `describe` call in the file), through a one-time setter
// for a field only the root test sets. If a Node release renames that field the
// wrap never happens: skipped suites count once each again (the reporter still
// sees them), and the unit test of this file fails.
type Options = { skip?: boolean | string; [k: string]: unknown };
type CreateSubtest = (this: object, Factory: { name: string }, name: unknown, options: unknown, fn: unknown, overrides: unknown) => unknown;
type CreateHook = (this: object, ...args: unknown[]) => unknown;
interface TestProto {
  createSubtest: CreateSubtest;
  createHook: CreateHook;
}

/** The reason of the innermost skipped suite whose body is registering tests now. */
let skipping: string | undefined;
export const installed = { done: false };

const reasonOf = (skip: unknown): string | undefined => (skip === undefined || skip === false || skip === null ? undefined : typeof skip === 'string' && skip !== '' ? skip : 'skipped');

function wrap(proto: TestProto): void {
  const createSubtest = proto.createSubtest;
  const createHook = proto.createHook;
  proto.createSubtest = function (this: object, Factory, name, options, fn, overrides) {
    // node:test's own argument shuffling: (name, options, fn) with either of the first two left out.
    let opts = options;
    let body = fn;
    let title = name;
    if (typeof name === 'function') [title, opts, body] = [undefined, undefined, name];
    else if (name !== null && typeof name === 'object') [title, opts, body] = [undefined, name, options];
    else if (typeof options === 'function') [opts, body] = [undefined, options];
    const given = (opts !== null && typeof opts === 'object' ? opts : {}) as Options;
    const over = (overrides ?? {}) as Options;
    const isSuite = Factory.name === 'Suite';
    const reason = skipping ?? (isSuite ? reasonOf(over.skip ?? given.skip) : undefined);
    if (reason === undefined) return createSubtest.call(this, Factory, name, options, fn, overrides);
    if (!isSuite) return createSubtest.call(this, Factory, title, { ...given, skip: reason }, body, { ...over, skip: reason });
    // A skipped suite: run its body (synchronously, inside node:test) with every test in it skipped.
    const outer = skipping;
    skipping = reason;
    try {
      return createSubtest.call(this, Factory, title, { ...given, skip: false }, body, { ...over, skip: false });
    } finally {
      skipping = outer;
    }
  };
  proto.createHook = function (this: object, ...args: unknown[]) {
    return skipping === undefined ? createHook.apply(this, args) : undefined;
  };
  installed.done = true;
}

// The root test sets `testDisambiguator` in its constructor, and only the root:
// catch that assignment once, take the prototype, and leave a plain field behind.
const FIELD = 'testDisambiguator';
Object.defineProperty(Object.prototype, FIELD, {
  configurable: true,
  set(this: object, value: unknown) {
    delete (Object.prototype as Record<string, unknown>)[FIELD];
    Object.defineProperty(this, FIELD, { value, writable: true, enumerable: true, configurable: true });
    let proto: object | null = Object.getPrototypeOf(this);
    while (proto !== null && !Object.hasOwn(proto, 'createSubtest')) proto = Object.getPrototypeOf(proto);
    if (proto !== null && typeof (proto as TestProto).createHook === 'function') wrap(proto as TestProto);
  },
});
