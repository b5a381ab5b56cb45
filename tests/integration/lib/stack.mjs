// tests/integration/lib/stack.mjs - starts the real Ramjet stack for a test file.
//
// startStack() runs `<build>/bin/ramjet dev` (RAMJET_BUILD_DIR selects build/ or
// build-asan/, default build/) on free ports with a fresh temporary data
// directory, waits for its READY line, and returns helpers to talk to it: GraphQL
// over HTTP, a graphql-ws WebSocket client, SQL through psql, the daemons' pids
// (from the supervisor's pid files) and health ports. stop() sends SIGTERM and
// returns the supervisor's exit status, which is 0 only when every child exited
// cleanly (under ASan, a leak makes a daemon exit non-zero, so this is checked).
//
// Children's output goes to <data-dir>/log/<name>.log and the supervisor's to
// <data-dir>/log/supervisor.log; when a test declared with itest() fails, or
// RAMJET_TEST_LOGS=1, stop() prints their tails and keeps the data directory.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSign } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, existsSync, readFileSync, readdirSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const sourceDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The build directory whose binaries are tested (absolute). */
export const buildDir = path.resolve(sourceDir, process.env.RAMJET_BUILD_DIR || 'build');
/**
 * What a daemon started outside `ramjet dev` needs to load the shop: the shop trusts no
 * token key by default, and `ramjet dev` names the development one only for its own children.
 */
export const shopDevKeyEnv = { SHOP_BOOSTER_PUBLIC_KEY_FILE: path.join(sourceDir, 'examples/shop/keys/public.pem') };

/** The binaries run under AddressSanitizer (build-asan/): slower, and more memory by design. */
export const SANITIZED = path.basename(buildDir).includes('asan');

/** The daemons and their offset from the health port base (tools/ramjet/dev.c's table). */
export const DAEMONS = Object.freeze({
  gateway: 0,
  commands: 1,
  eventstore: 2,
  reducer: 3,
  projector: 4,
  pusher: 5,
});

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Every mutation answer carries extensions.consistencyToken (read-your-writes): this
 * checks that it is a non-empty string, removes it from @p result (and `extensions` when
 * nothing else is left), so that tests compare data and errors exactly, and returns it
 * (undefined when the result has none, as queries do not).
 */
export function takeConsistencyToken(result) {
  const ext = result?.extensions;
  if (ext === null || typeof ext !== 'object' || !('consistencyToken' in ext)) return undefined;
  const token = ext.consistencyToken;
  assert.ok(typeof token === 'string' && token.length > 0, `bad consistency token: ${JSON.stringify(token)}`);
  delete ext.consistencyToken;
  if (Object.keys(ext).length === 0) delete result.extensions;
  return token;
}

/**
 * Polls fn() until it returns a value other than undefined/false, or throws after
 * timeoutMs with the last error or value in the message.
 */
export async function waitFor(fn, { timeoutMs = 30000, intervalMs = 200, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? last.message : last === undefined ? 'not yet' : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${detail}`);
    }
    await sleep(intervalMs);
  }
}

function canListen(port, host) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

const takenPorts = new Set();

/**
 * A base port such that base..base+count-1 are free on every interface. Drawn at
 * random below the kernel's ephemeral range, so stacks of concurrent test files and
 * outgoing connections do not collide.
 */
async function freePortRange(count) {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + Math.floor(Math.random() * (32000 - 20000 - count));
    let ok = true;
    for (let p = base; p < base + count && ok; p++) {
      ok = !takenPorts.has(p) && (await canListen(p, '0.0.0.0')) && (await canListen(p, '127.0.0.1'));
    }
    if (ok) {
      for (let p = base; p < base + count; p++) takenPorts.add(p);
      return base;
    }
  }
  throw new Error('could not find free ports');
}

/** One TCP port free on every interface right now (see freePortRange). */
export async function freePort() {
  return freePortRange(1);
}

const extraDaemons = new Set();

/**
 * Starts one more ramjet-<daemon> (a replica: reducer, projector, commands, eventstore,
 * pusher...) on @p stack's PostgreSQL, Kafka and Redis, with its own health port, extra
 * environment @p env, and its log in the stack's log directory (<daemon>-extra-<port>.log).
 * Unless options.waitReady is false, waits for its /readyz. Resolves
 * {healthPort, child, pid, stop(), kill(), ready()}; stop() sends SIGTERM (SIGKILL after 30 s),
 * is idempotent and resolves {code, signal}; ready() is whether /readyz answers 200 now.
 * stopExtraDaemons() stops those still running (call it before stack.stop()).
 */
export async function startExtraDaemon(stack, daemon, env = {}, { waitReady = true } = {}) {
  const healthPort = await freePort();
  const childEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RAMJET_')) childEnv[k] = v;
  Object.assign(childEnv, {
    ...shopDevKeyEnv,
    RAMJET_APP: path.join(buildDir, 'lib', 'libshop.so'),
    RAMJET_PG_URL: stack.urls.postgres,
    RAMJET_KAFKA_BROKERS: stack.urls.kafka,
    RAMJET_REDIS_URL: stack.urls.redis,
    RAMJET_HEALTH_PORT: String(healthPort),
    RAMJET_LOG_LEVEL: process.env.RAMJET_LOG_LEVEL || 'info',
    ...env,
  });
  const log = createWriteStream(path.join(stack.logDir, `${daemon}-extra-${healthPort}.log`), { flags: 'a' });
  const child = spawn(path.join(buildDir, 'bin', `ramjet-${daemon}`), [], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let exitStatus = null;
  exited.then((st) => (exitStatus = st));
  const finish = async () => {
    const st = await exited;
    extraDaemons.delete(d);
    log.end();
    return st;
  };
  const d = {
    daemon,
    healthPort,
    child,
    pid: child.pid,
    get exitStatus() {
      return exitStatus;
    },
    async ready() {
      try {
        const res = await fetch(`http://127.0.0.1:${healthPort}/readyz`, { signal: AbortSignal.timeout(5000) });
        return res.status === 200;
      } catch {
        return false;
      }
    },
    async stop() {
      if (exitStatus === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
      const st = await finish();
      clearTimeout(timer);
      return st;
    },
    async kill() {
      if (exitStatus === null) child.kill('SIGKILL');
      return finish();
    },
  };
  extraDaemons.add(d);
  if (waitReady) {
    await waitFor(
      async () => {
        if (exitStatus !== null) throw new Error(`ramjet-${daemon} exited ${JSON.stringify(exitStatus)}`);
        return d.ready();
      },
      { timeoutMs: 60000, what: `the extra ${daemon} on health port ${healthPort} to be ready` },
    );
  }
  return d;
}

/** Stops every daemon startExtraDaemon (or startExtraPusher) started that is still running. */
export async function stopExtraDaemons() {
  for (const d of [...extraDaemons]) await d.stop().catch(() => {});
}

/**
 * Starts another ramjet-pusher (startExtraDaemon) on a free WebSocket port; resolves the
 * same, plus its url.
 */
export async function startExtraPusher(stack, env = {}) {
  const wsPort = await freePort();
  const p = await startExtraDaemon(stack, 'pusher', { RAMJET_WS_PORT: String(wsPort), ...env });
  p.url = `ws://127.0.0.1:${wsPort}/websocket`;
  return p;
}

/** Stops every extra daemon still running (the pushers among them). */
export const stopExtraPushers = stopExtraDaemons;

function tail(file, lines) {
  try {
    const all = readFileSync(file, 'utf8').split('\n');
    return all.slice(-lines).join('\n');
  } catch {
    return '';
  }
}

const running = new Set();
const stacks = new Set(); // every stack this test file started
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    // Node's default action would skip the 'exit' handler below.
    process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
  });
}

/**
 * node:test's test(), except that a failure marks every stack of this test file
 * failed, so that stop() prints the daemons' logs and keeps the data directory.
 */
export function itest(title, options, fn) {
  if (typeof options === 'function') [options, fn] = [{}, options];
  return test(title, options, async (t) => {
    try {
      await fn(t);
    } catch (e) {
      for (const s of stacks) s.failed = true;
      throw e;
    }
  });
}
process.on('exit', () => {
  // A test process that dies must not leave a stack behind: the supervisor stops
  // its children in order when it gets SIGTERM.
  for (const child of running) {
    try {
      child.kill('SIGTERM');
    } catch {}
  }
});

/** A graphql-ws (subscriptions-transport-ws) client over the npm `ws` package. */
export class GqlWsClient {
  constructor(socket) {
    this.socket = socket;
    this.received = []; // every message, in order, with the time it arrived
    this.waiters = [];
    socket.on('message', (raw) => {
      let msg;
      try {
        msg = JSON.parse(raw.toString());
      } catch {
        msg = { type: '<unparseable>', raw: raw.toString() };
      }
      const token = takeConsistencyToken(msg?.payload);
      if (token !== undefined) msg.consistencyToken = token;
      this.received.push({ at: Date.now(), msg });
      this.waiters = this.waiters.filter((w) => !w.check());
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiters = this.waiters.filter((w) => !w.check());
    });
  }

  /** Opens the socket with subprotocol graphql-ws and completes connection_init -> connection_ack. */
  static async connect(url, { payload = {}, timeoutMs = 10000 } = {}) {
    const socket = new WebSocket(url, 'graphql-ws');
    await Promise.race([
      once(socket, 'open'),
      sleep(timeoutMs).then(() => {
        throw new Error(`WebSocket ${url} did not open within ${timeoutMs} ms`);
      }),
    ]);
    if (socket.protocol !== 'graphql-ws') {
      socket.terminate();
      throw new Error(`server chose subprotocol '${socket.protocol}', expected 'graphql-ws'`);
    }
    const client = new GqlWsClient(socket);
    client.send({ type: 'connection_init', payload });
    await client.next((m) => m.type === 'connection_ack' || m.type === 'connection_error', { timeoutMs });
    const ack = client.received.find((r) => r.msg.type === 'connection_ack' || r.msg.type === 'connection_error');
    if (ack.msg.type !== 'connection_ack') throw new Error(`connection refused: ${JSON.stringify(ack.msg)}`);
    return client;
  }

  send(msg) {
    this.socket.send(JSON.stringify(msg));
  }

  start(id, query, variables) {
    this.send({ id, type: 'start', payload: { query, variables } });
  }

  stop(id) {
    this.send({ id, type: 'stop' });
  }

  /**
   * Resolves with the first message at index >= from (default: any received so far
   * or later) matching pred; rejects after timeoutMs or if the socket closes first.
   */
  next(pred, { timeoutMs = 30000, from = 0 } = {}) {
    return new Promise((resolve, reject) => {
      const w = {
        check: () => {
          for (let i = from; i < this.received.length; i++) {
            if (pred(this.received[i].msg)) {
              clearTimeout(w.timer);
              resolve(this.received[i].msg);
              return true;
            }
          }
          if (this.closed) {
            clearTimeout(w.timer);
            reject(new Error('WebSocket closed while waiting for a message'));
            return true;
          }
          return false;
        },
      };
      w.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        const seen = this.received.slice(from).map((r) => JSON.stringify(r.msg)).join('\n  ');
        reject(new Error(`no matching WebSocket message within ${timeoutMs} ms; received:\n  ${seen}`));
      }, timeoutMs);
      if (!w.check()) this.waiters.push(w);
    });
  }

  close() {
    this.socket.close();
  }
}

/**
 * The broker startStack runs by default: `ramjet dev`'s own default, a real Apache Kafka
 * broker (RAMJET_TEST_KAFKA=mock runs the suite on librdkafka's mock cluster instead).
 */
export const TEST_KAFKA = process.env.RAMJET_TEST_KAFKA || 'real';

/**
 * Starts a stack. options.name labels the temp dir; options.env adds variables for
 * the supervisor (and so the daemons); options.args adds `ramjet dev` arguments;
 * options.kafka is 'real' or 'mock' (`ramjet dev --kafka`, default TEST_KAFKA) and is
 * ignored when args name --kafka-brokers; options.ramjet runs another `ramjet` binary
 * (an installed one: sdk.test.mjs) instead of the build directory's.
 */
export async function startStack({ name = 'stack', env = {}, args = [], kafka = TEST_KAFKA, readyTimeoutMs = 120000, ramjet = path.join(buildDir, 'bin', 'ramjet') } = {}) {
  if (!existsSync(ramjet)) throw new Error(`${ramjet} does not exist: build first (scripts/build)`);

  // Under /tmp, and searchable by others: as root, postgres runs as user `ramjet`.
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `ramjet-it-${name}-`));
  await chmod(dataDir, 0o755);
  const logDir = path.join(dataDir, 'log');
  await mkdir(logDir);

  const healthBase = await freePortRange(Object.keys(DAEMONS).length);
  const http = await freePortRange(1);
  const ws = await freePortRange(1);
  const pg = await freePortRange(1);
  const redis = await freePortRange(1);
  const kafkaArgs = args.includes('--kafka-brokers') ? [] : ['--kafka', kafka];
  // The real broker's listener and, on the next port, its KRaft controller.
  if (kafka === 'real' && kafkaArgs.length) kafkaArgs.push('--kafka-port', String(await freePortRange(2)));
  const childEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    // Only the test's own choices reach the stack, not a developer's RAMJET_* settings.
    if (!k.startsWith('RAMJET_') || k === 'RAMJET_LOG_LEVEL' || k === 'RAMJET_LOG_DEBUG') childEnv[k] = v;
  }
  Object.assign(childEnv, env);
  const argv = [
    'dev',
    '--data-dir', dataDir,
    '--log-dir', logDir,
    '--http-port', String(http),
    '--ws-port', String(ws),
    '--pg-port', String(pg),
    '--redis-port', String(redis),
    '--health-port-base', String(healthBase),
    ...kafkaArgs,
    ...args,
  ];
  const supervisorLog = path.join(logDir, 'supervisor.log');
  const logStream = createWriteStream(supervisorLog, { flags: 'a' });
  const child = spawn(ramjet, argv, { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.stderr.pipe(logStream);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  exited.then(() => running.delete(child));

  const stack = {
    name,
    dataDir,
    logDir,
    buildDir,
    process: child,
    ports: { http, ws, pg, redis, healthBase },
    urls: null,
    failed: false,
    exitStatus: null, // {code, signal} once stopped
    supervisorLog: '', // the supervisor's whole log, kept by stop()

    healthPort(daemon) {
      if (!(daemon in DAEMONS)) throw new Error(`unknown daemon ${daemon}`);
      return healthBase + DAEMONS[daemon];
    },

    /** POSTs a GraphQL request; resolves {status, json, text}. json is null when the body is not JSON. */
    async gql(query, variables, headers = {}, { timeoutMs = 30000 } = {}) {
      const body = JSON.stringify(variables === undefined ? { query } : { query, variables });
      return stack.post(body, headers, { timeoutMs });
    },

    /** POSTs a raw body to /graphql (content-type application/json unless overridden). */
    async post(body, headers = {}, { timeoutMs = 30000 } = {}) {
      const res = await fetch(stack.urls.graphql, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text();
      let json = null;
      try {
        json = JSON.parse(text);
      } catch {}
      const consistencyToken = takeConsistencyToken(json);
      return { status: res.status, json, text, consistencyToken };
    },

    /** Opens a graphql-ws client on the pusher. */
    ws(options) {
      return GqlWsClient.connect(stack.urls.websocket, options);
    },

    /** Runs SQL through psql (-At: unaligned, tuples only); resolves its stdout without the final newline. */
    sql(text, { timeoutMs = 60000 } = {}) {
      return new Promise((resolve, reject) => {
        const p = spawn('psql', [stack.urls.postgres, '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', text], {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, PGCONNECT_TIMEOUT: '10' },
        });
        let out = '';
        let err = '';
        p.stdout.on('data', (d) => (out += d));
        p.stderr.on('data', (d) => (err += d));
        const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
        p.once('error', reject);
        p.once('close', (code) => {
          clearTimeout(timer);
          if (code === 0) resolve(out.replace(/\n$/, ''));
          else reject(new Error(`psql exited ${code}: ${err.trim()} (query: ${text})`));
        });
      });
    },

    /** Runs a SELECT and resolves its rows as objects (json_agg). */
    async sqlRows(select) {
      const out = await stack.sql(`SELECT coalesce(json_agg(t), '[]'::json) FROM (${select}) t`);
      return JSON.parse(out);
    },

    /** The pid in <data-dir>/run/<name>.pid, or null while there is none. */
    async pidOf(daemon) {
      try {
        const pid = Number.parseInt(await readFile(path.join(dataDir, 'run', `${daemon}.pid`), 'utf8'), 10);
        return Number.isInteger(pid) && pid > 0 ? pid : null;
      } catch {
        return null;
      }
    },

    /** GET http://127.0.0.1:<health port of daemon><path>; resolves {status, text}. */
    async health(daemon, p) {
      const res = await fetch(`http://127.0.0.1:${stack.healthPort(daemon)}${p}`, {
        signal: AbortSignal.timeout(5000),
      });
      return { status: res.status, text: await res.text() };
    },

    /** Waits until the supervisor has replaced oldPid and the daemon is ready again; resolves the new pid. */
    async waitForRestart(daemon, oldPid, { timeoutMs = 60000 } = {}) {
      const pid = await waitFor(
        async () => {
          const p = await stack.pidOf(daemon);
          return p !== null && p !== oldPid ? p : undefined;
        },
        { timeoutMs, what: `${daemon} to be restarted (old pid ${oldPid})` },
      );
      await waitFor(async () => (await stack.health(daemon, '/readyz')).status === 200, {
        timeoutMs,
        what: `${daemon} to be ready after its restart`,
      });
      return pid;
    },

    /** Contents of <log-dir>/<name>.log ('supervisor' for the supervisor's own). */
    log(logName) {
      try {
        return readFileSync(path.join(logDir, `${logName}.log`), 'utf8');
      } catch {
        return '';
      }
    },

    /** Prints the last lines of every log to stderr. */
    dumpLogs(lines = 80) {
      let files = [];
      try {
        files = readdirSync(logDir).filter((f) => f.endsWith('.log'));
      } catch {}
      for (const f of files) {
        process.stderr.write(`\n----- ${path.join(logDir, f)} (last ${lines} lines) -----\n`);
        process.stderr.write(tail(path.join(logDir, f), lines) + '\n');
      }
    },

    /**
     * Stops the stack (SIGTERM; SIGKILL after timeoutMs) and resolves the
     * supervisor's {code, signal}; its log stays in stack.supervisorLog after the
     * data directory is removed. Idempotent.
     */
    async stop({ timeoutMs = 120000 } = {}) {
      if (stack.exitStatus === null) {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        stack.exitStatus = await exited;
        clearTimeout(timer);
        await new Promise((resolve) => logStream.end(resolve));
        stack.supervisorLog = stack.log('supervisor');
        const keep = stack.failed || process.env.RAMJET_TEST_LOGS === '1' || process.env.RAMJET_TEST_KEEP === '1';
        if (stack.failed || process.env.RAMJET_TEST_LOGS === '1') stack.dumpLogs();
        if (keep) process.stderr.write(`\nkept the data directory of stack '${name}': ${dataDir}\n`);
        else await rm(dataDir, { recursive: true, force: true }).catch(() => {});
      }
      return stack.exitStatus;
    },
  };

  stacks.add(stack);

  // Wait for "READY graphql=... websocket=... kafka=... postgres=... redis=...".
  const lines = readline.createInterface({ input: child.stdout });
  try {
    stack.urls = await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`ramjet dev was not READY within ${readyTimeoutMs} ms`)),
        readyTimeoutMs,
      );
      lines.on('line', (line) => {
        if (!line.startsWith('READY ')) return;
        clearTimeout(timer);
        const urls = {};
        for (const kv of line.slice(6).trim().split(/\s+/)) {
          const eq = kv.indexOf('=');
          urls[kv.slice(0, eq)] = kv.slice(eq + 1);
        }
        resolve(urls);
      });
      exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`ramjet dev exited before READY (code ${code}, signal ${signal})`));
      });
    });
  } catch (e) {
    stack.failed = true;
    await stack.stop();
    throw e;
  }
  return stack;
}

/**
 * Declares the last test of a file: stopping the stack with SIGTERM ends the
 * supervisor with status 0, which it reports only when every child exited 0 when
 * asked (under ASan, a leak or sanitizer report in any daemon fails this).
 */
export function itestStopsCleanly(getStack) {
  itest('the stack stops cleanly on SIGTERM', { timeout: 180000 }, async () => {
    const st = await getStack().stop();
    const log = getStack().supervisorLog;
    assert.deepStrictEqual(st, { code: 0, signal: null }, `supervisor exit ${JSON.stringify(st)}; log tail:\n${log.slice(-4000)}`);
    assert.match(log, /everything stopped cleanly/);
  });
}

/** The GraphQL answer of a successful ChangeCartItem, exactly. */
const shopPrivateKey = readFileSync(path.join(sourceDir, 'examples/shop/keys/private.pem'), 'utf8');

/**
 * An RS256 token signed with the shop's development key (kid "booster"), for a user
 * <role>@example.com with the role `role`; `claims` are added to the payload.
 */
export function shopToken(role, claims = {}) {
  const b64url = (buf) => Buffer.from(buf).toString('base64url');
  const email = `${String(role).toLowerCase()}@example.com`;
  const now = Math.floor(Date.now() / 1000);
  const payload = { iss: 'booster', sub: email, email, id: email, iat: now, 'booster:role': role, ...claims };
  const header = { alg: 'RS256', typ: 'JWT', kid: 'booster' };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${b64url(createSign('RSA-SHA256').update(input).sign(shopPrivateKey))}`;
}

export const MUTATION_OK = Object.freeze({ data: { ChangeCartItem: true } });

export const CHANGE_CART_ITEM = `mutation ($cartId: ID!, $productId: ID!, $quantity: Float!) {
  ChangeCartItem(input: {cartId: $cartId, productId: $productId, quantity: $quantity})
}`;

export const CART_READ_MODEL = `query ($id: ID!) { CartReadModel(id: $id) { id cartItems { productId quantity } } }`;

/**
 * The SDL of a federation 1 service that extends the shop's CartReadModel by id with a
 * `label` and owns `featuredCarts` (references only). @extends rather than `extend type`:
 * for an `extend type` of a type it does not define, @apollo/subgraph 2.15 adds a bare
 * `type CartReadModel` to its _service SDL, which @mercuriusjs/gateway 5 takes for the
 * type's definition, losing the shop's fields.
 */
export const CART_LABELS_SDL = `
  type CartReadModel @key(fields: "id") @extends {
    id: ID! @external
    label: String
  }

  extend type Query {
    featuredCarts: [CartReadModel]
  }
`;

/**
 * What a Cart's cartItems are after its CartItemChanged events, in version order
 * (examples/shop: add to an existing product's quantity, else append).
 */
export function foldCart(events) {
  const items = [];
  for (const e of events) {
    const v = typeof e.value === 'string' ? JSON.parse(e.value) : e.value;
    const item = items.find((i) => i.productId === v.productId);
    if (item) item.quantity += v.quantity;
    else items.push({ productId: v.productId, quantity: v.quantity });
  }
  return items;
}
