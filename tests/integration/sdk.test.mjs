// The SDK as an application author meets it: Ramjet installed into a scratch prefix
// (`cmake --install`), an application scaffolded with that prefix's `ramjet new` and
// grown with `ramjet new event|entity|command|read-model`, built with CMake against the
// installed package (find_package(Ramjet)) and its own test run, then served by the
// prefix's `ramjet dev --app` and sent a mutation and a query of its own. Nothing here
// reads the source tree's headers or the build tree's binaries after the install, so a
// missing install rule fails it. The broker is librdkafka's mock unless
// RAMJET_TEST_KAFKA says otherwise; nothing here is Kafka-specific.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { buildDir, itest, itestStopsCleanly, startStack, waitFor } from './lib/stack.mjs';

let scratch;
let prefix;
let appDir;
let stack;

/** Runs a command to completion; fails the test with its output when it exits non-zero. */
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 300000, ...opts });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

before(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'ramjet-sdk-'));
  prefix = path.join(scratch, 'prefix');
  appDir = path.join(scratch, 'notes');
});
after(async () => {
  await stack?.stop();
  if (scratch && !stack?.failed) await rm(scratch, { recursive: true, force: true });
});

itest('cmake --install puts the daemons, the CLI, GraphiQL and the SDK under the prefix', () => {
  run('cmake', ['--install', buildDir, '--prefix', prefix]);
  for (const f of ['gateway', 'commands', 'eventstore', 'reducer', 'projector', 'pusher', 'devbroker'])
    assert.ok(existsSync(path.join(prefix, 'bin', `ramjet-${f}`)), `bin/ramjet-${f}`);
  for (const f of ['bin/ramjet', 'include/ramjet.h', 'include/rj/status.h',
    'lib/cmake/Ramjet/RamjetConfig.cmake', 'lib/pkgconfig/ramjet.pc', 'share/graphiql/graphiql.min.js'])
    assert.ok(existsSync(path.join(prefix, f)), f);
  // pkg-config finds the SDK from the installed file alone (it is relocatable).
  const flags = run('pkg-config', ['--cflags', '--libs', 'ramjet'],
    { env: { ...process.env, PKG_CONFIG_PATH: path.join(prefix, 'lib', 'pkgconfig') } });
  assert.match(flags, new RegExp(`-I${path.join(prefix, 'lib', 'pkgconfig')}/\\.\\./\\.\\.//?include`));
  assert.match(flags, /-ljansson/);
});

itest('ramjet new scaffolds an app and adds an event, an entity, a command and a read model', () => {
  const ramjet = path.join(prefix, 'bin', 'ramjet');
  run(ramjet, ['new', appDir]);
  const pieces = [
    ['event', 'Greeted', '--entity', 'Greeter', '--key', 'greeterId', '--fields', 'greeting:String!'],
    ['entity', 'Greeter', '--fields', 'greeting:String', '--reduces', 'Greeted'],
    ['command', 'Greet', '--fields', 'greeterId:ID!', 'greeting:String!', '--registers', 'Greeted'],
    ['read-model', 'GreeterReadModel', '--fields', 'greeting:String', '--projects', 'Greeter'],
  ];
  for (const p of pieces) run(ramjet, ['new', ...p], { cwd: appDir });
  const sdl = readFileSync(path.join(appDir, 'notes.graphql'), 'utf8');
  assert.match(sdl, /type Greeted @event\(entity: "Greeter", key: "greeterId"\) \{\n  greeterId: ID!\n  greeting: String!\n\}/);
  assert.match(sdl, /input Greet @command\(authorize: ALL\) \{/);
  assert.match(readFileSync(path.join(appDir, 'src', 'pieces.h'), 'utf8'),
    /PIECE\(note\)\nPIECE\(write_note\)\nPIECE\(note_read_model\)\nPIECE\(greeter\)\nPIECE\(greet\)\nPIECE\(greeter_read_model\)\n$/);
  // A piece that is already there, or an entity reducing an undeclared event, is refused
  // and changes nothing.
  for (const args of [['command', 'Greet'], ['entity', 'Other', '--reduces', 'Nope']]) {
    const r = spawnSync(ramjet, ['new', ...args], { cwd: appDir, encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
  }
  assert.equal(readFileSync(path.join(appDir, 'notes.graphql'), 'utf8'), sdl);
});

itest('the app builds against the installed package and passes its own test', () => {
  const build = path.join(appDir, 'build');
  run('cmake', ['-S', appDir, '-B', build, `-DCMAKE_PREFIX_PATH=${prefix}`, '-DCMAKE_C_FLAGS=-Werror']);
  run('cmake', ['--build', build]);
  assert.ok(existsSync(path.join(build, 'libnotes.so')));
  assert.ok(existsSync(path.join(build, 'notes.graphql')), 'the schema is next to the library');
  const out = run('ctest', ['--test-dir', build, '--output-on-failure']);
  assert.match(out, /100% tests passed, 0 tests failed out of 1/);
});

itest('the installed ramjet dev serves it: a mutation, then a query of its read model', { timeout: 300000 }, async () => {
  stack = await startStack({
    name: 'sdk',
    ramjet: path.join(prefix, 'bin', 'ramjet'),
    args: ['--app', path.join(appDir, 'build', 'libnotes.so')],
    kafka: process.env.RAMJET_TEST_KAFKA || 'mock',
  });
  for (const [mutation, field] of [
    ['mutation { Greet(input: {greeterId: "g1", greeting: "hello"}) }', 'Greet'],
    ['mutation { WriteNote(input: {noteId: "n1", text: "first note"}) }', 'WriteNote'],
  ]) {
    const r = await stack.gql(mutation);
    assert.deepEqual(r.json, { data: { [field]: true } }, r.text);
  }
  const read = async (query, field) => {
    const r = await stack.gql(query);
    assert.equal(r.json?.errors, undefined, r.text);
    return r.json.data[field] ?? undefined;
  };
  assert.deepEqual(await waitFor(() => read('{ GreeterReadModel(id: "g1") { id greeting } }', 'GreeterReadModel'),
    { what: 'GreeterReadModel g1' }), { id: 'g1', greeting: 'hello' });
  assert.deepEqual(await waitFor(() => read('{ NoteReadModel(id: "n1") { id text } }', 'NoteReadModel'),
    { what: 'NoteReadModel n1' }), { id: 'n1', text: 'first note' });
});

itestStopsCleanly(() => stack);
