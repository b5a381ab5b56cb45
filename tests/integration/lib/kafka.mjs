// tests/integration/lib/kafka.mjs - a real Apache Kafka broker for a test file.
//
// startKafka() formats a fresh single-node KRaft cluster (broker and controller in one
// process) in a temporary directory, starts it on free loopback ports with the jars
// scripts/deps fetched through Maven (tools/kafka/pom.xml), and waits until it answers
// metadata requests. Point a stack at it with
//   startStack({ args: ['--kafka-brokers', kafka.bootstrap] }).
// The broker's output goes to <dir>/broker.log; stop() (SIGTERM, then SIGKILL) removes
// the directory unless the test failed or RAMJET_TEST_KEEP=1.

import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, sleep } from './stack.mjs';

const sourceDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const pom = readFileSync(path.join(sourceDir, 'tools/kafka/pom.xml'), 'utf8');

/** The pinned broker version (tools/kafka/pom.xml). */
export const KAFKA_VERSION = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom)[1];

/** Where scripts/deps put the broker's jars. */
export const kafkaHome = process.env.RAMJET_KAFKA_HOME || `/opt/ramjet/kafka-${KAFKA_VERSION}`;

const running = new Set();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/**
 * Starts a KRaft cluster of @p nodes nodes (default 1), each broker and controller in one
 * JVM, on free loopback ports. Options: name (labels the directory), config (extra
 * server.properties lines for every node, as an object). With 3 nodes the internal topics
 * get 3 replicas and min.insync.replicas 2, like the topics a test asks Ramjet for.
 * Resolves { bootstrap, port, dir, pid, nodes, stop(), kill() }: port and pid are the first
 * node's; nodes[i] is { id, port, pid, running, kill(), start() } (kill is SIGKILL, start
 * brings a killed node back on its data); stop() stops every node and removes the directory
 * unless the test failed or RAMJET_TEST_KEEP=1.
 */
export async function startKafka({ name = 'kafka', nodes = 1, config = {}, readyTimeoutMs = 60000 } = {}) {
  const libs = path.join(kafkaHome, 'libs');
  if (!existsSync(path.join(kafkaHome, '.complete'))) {
    throw new Error(`no Kafka broker in ${kafkaHome}: run scripts/deps (it fetches Apache Kafka ${KAFKA_VERSION} through Maven)`);
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), `ramjet-kafka-${name}-`));
  await chmod(dir, 0o755);
  const ids = Array.from({ length: nodes }, (_, i) => i + 1);
  const ports = {};
  const controllerPorts = {};
  for (const id of ids) {
    ports[id] = await freePort();
    controllerPorts[id] = await freePort();
  }
  const replicas = String(Math.min(nodes, 3));
  const minIsr = String(nodes >= 3 ? 2 : 1);
  const java = ['-Xms128m', '-Xmx512m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1',
    `-Dlog4j2.configurationFile=${path.join(sourceDir, 'tools/kafka/log4j2.properties')}`, '-cp', `${libs}/*`];

  const cluster = { bootstrap: ids.map((id) => `127.0.0.1:${ports[id]}`).join(','), port: ports[1], dir, failed: false, nodes: [] };
  for (const id of ids) {
    const nodeDir = nodes === 1 ? dir : path.join(dir, `node-${id}`);
    const props = {
      'process.roles': 'broker,controller',
      'node.id': String(id),
      'controller.quorum.voters': ids.map((v) => `${v}@127.0.0.1:${controllerPorts[v]}`).join(','),
      listeners: `PLAINTEXT://127.0.0.1:${ports[id]},CONTROLLER://127.0.0.1:${controllerPorts[id]}`,
      'advertised.listeners': `PLAINTEXT://127.0.0.1:${ports[id]}`,
      'controller.listener.names': 'CONTROLLER',
      'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      'inter.broker.listener.name': 'PLAINTEXT',
      'log.dirs': path.join(nodeDir, 'data'),
      'offsets.topic.replication.factor': replicas,
      'offsets.topic.num.partitions': '4',
      'transaction.state.log.replication.factor': replicas,
      'transaction.state.log.min.isr': minIsr,
      'transaction.state.log.num.partitions': '4',
      'default.replication.factor': replicas,
      'min.insync.replicas': minIsr,
      // One broker, one test: no reason to wait for more members before the first rebalance.
      'group.initial.rebalance.delay.ms': '0',
      'num.partitions': '8',
      ...config,
    };
    if (nodes > 1) await mkdir(nodeDir, { recursive: true });
    const propsFile = path.join(nodeDir, 'server.properties');
    await writeFile(propsFile, Object.entries(props).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
    const format = spawnSync('java', [...java, 'kafka.tools.StorageTool', 'format', '-t', 'ramjet-test-cluster-0001', '-c', propsFile], {
      encoding: 'utf8',
    });
    if (format.status !== 0) throw new Error(`could not format the Kafka storage: ${format.stderr || format.stdout}`);

    const logFile = path.join(nodeDir, 'broker.log');
    const log = createWriteStream(logFile, { flags: 'a' });
    const node = { id, port: ports[id], pid: 0, running: false, logFile, log, child: null, exited: null };
    node.start = () => {
      const child = spawn('java', [...java, 'kafka.Kafka', propsFile], { stdio: ['ignore', 'pipe', 'pipe'] });
      running.add(child);
      child.stdout.pipe(log, { end: false });
      child.stderr.pipe(log, { end: false });
      node.child = child;
      node.pid = child.pid;
      node.running = true;
      node.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
      node.exited.then(() => {
        running.delete(child);
        node.running = false;
      });
    };
    /** Kills the node with SIGKILL (a crash) and resolves once it is gone. */
    node.kill = async () => {
      if (node.running) node.child.kill('SIGKILL');
      await node.exited;
    };
    node.start();
    cluster.nodes.push(node);
  }
  cluster.pid = cluster.nodes[0].pid;
  /** Kills every node with SIGKILL. */
  cluster.kill = async () => {
    for (const n of cluster.nodes) await n.kill();
  };
  /** Stops every node and removes the directory (kept when failed or RAMJET_TEST_KEEP=1). */
  cluster.stop = async () => {
    for (const n of cluster.nodes) if (n.running) n.child.kill('SIGTERM');
    const timer = setTimeout(() => cluster.nodes.forEach((n) => n.running && n.child.kill('SIGKILL')), 30000);
    await Promise.all(cluster.nodes.map((n) => n.exited));
    clearTimeout(timer);
    await Promise.all(cluster.nodes.map((n) => new Promise((resolve) => n.log.end(resolve))));
    if (cluster.failed || process.env.RAMJET_TEST_KEEP === '1') {
      process.stderr.write(`\nkept the Kafka cluster's directory: ${dir}\n`);
    } else {
      await rm(dir, { recursive: true, force: true }).catch(() => {});
    }
  };

  const deadline = Date.now() + readyTimeoutMs;
  for (const n of cluster.nodes) {
    while (!(await canConnect(n.port))) {
      if (!n.running || Date.now() > deadline) {
        cluster.failed = true;
        await cluster.stop();
        throw new Error(`Kafka node ${n.id} did not start within ${readyTimeoutMs} ms (log: ${n.logFile})`);
      }
      await sleep(200);
    }
  }
  return cluster;
}

/**
 * Runs one of the Kafka distribution's command-line tools (kafka-tools, fetched with the
 * broker) as an external client would: `java -cp '<home>/libs/*' <mainClass> ...args`, logging
 * warnings to stderr. Resolves { code, stdout, stderr }; kills it after timeoutMs.
 */
export function kafkaTool(mainClass, args, { timeoutMs = 60000 } = {}) {
  const java = ['-XX:TieredStopAtLevel=1', '-Xmx256m', `-Dlog4j2.configurationFile=${path.join(kafkaHome, 'config/tools-log4j2.properties')}`,
    '-cp', `${path.join(kafkaHome, 'libs')}/*`];
  return new Promise((resolve, reject) => {
    const child = spawn('java', [...java, mainClass, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal, stdout, stderr });
    });
  });
}

/**
 * Reads @p topic from the beginning with the distribution's console consumer, exactly as
 * docs/kafka-consumers.md tells users (read_committed, no group of Ramjet's), until no record
 * came for idleMs. Resolves [{ key, value }] in the order read. options.isolation
 * 'read_uncommitted' also shows the records of aborted transactions.
 */
export async function consoleConsume(bootstrap, topic, { idleMs = 5000, group, isolation = 'read_committed' } = {}) {
  const args = ['--bootstrap-server', bootstrap, '--topic', topic, '--from-beginning', '--isolation-level', isolation,
    '--property', 'print.key=true', '--property', 'key.separator=\t', '--timeout-ms', String(idleMs)];
  if (group) args.push('--group', group);
  const r = await kafkaTool('org.apache.kafka.tools.consumer.ConsoleConsumer', args);
  if (!/Processed a total of \d+ messages/.test(r.stderr)) throw new Error(`the console consumer failed (${r.code}): ${r.stderr.slice(-2000)}`);
  return r.stdout.split('\n').filter(Boolean).map((line) => {
    const tab = line.indexOf('\t');
    return { key: line.slice(0, tab), value: line.slice(tab + 1) };
  });
}

/**
 * The configs and replication of @p topic as the distribution's kafka-topics --describe prints
 * them: { partitions, replicationFactor, configs, leaders: [{ partition, leader, isr }] }.
 */
export async function describeTopic(bootstrap, topic) {
  const r = await kafkaTool('org.apache.kafka.tools.TopicCommand', ['--bootstrap-server', bootstrap, '--describe', '--topic', topic]);
  if (r.code !== 0) throw new Error(`kafka-topics --describe failed (${r.code}): ${r.stderr.slice(-2000)}`);
  const head = r.stdout.split('\n')[0];
  const configs = Object.fromEntries((/Configs: (\S*)/.exec(head)?.[1] ?? '').split(',').filter(Boolean).map((kv) => kv.split('=')));
  const leaders = r.stdout.split('\n').slice(1).filter((l) => /Partition: \d+/.test(l)).map((l) => ({
    partition: Number(/Partition: (\d+)/.exec(l)[1]),
    leader: Number(/Leader: (-?\d+)/.exec(l)?.[1]),
    isr: (/Isr: ([\d,]*)/.exec(l)?.[1] ?? '').split(',').filter(Boolean).map(Number),
  }));
  return {
    partitions: Number(/PartitionCount: (\d+)/.exec(head)?.[1]),
    replicationFactor: Number(/ReplicationFactor: (\d+)/.exec(head)?.[1]),
    configs,
    leaders,
  };
}
