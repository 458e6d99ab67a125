/**
 * A real NATS JetStream cluster for tests: N `nats-server` processes (Debian package
 * nats-server) on 127.0.0.1 with free ports, each with its own store directory in one temp
 * directory, started, killed and restarted by the test. This file owns those processes and
 * that directory: they are removed when the test ends (t.after), when the test process
 * exits, and, through a watchdog, even when the test process is killed outright, so a run
 * never leaves servers behind. Readiness, stream leaders and catch-up are read from each
 * node's HTTP monitor port, not through a NATS client.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, mkdirSync, openSync } from 'node:fs';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket, type AddressInfo, type Server } from 'node:net';
import { delimiter, join } from 'node:path';
import type { TestContext } from 'node:test';
import { connect } from 'nats';
import { needs } from './facility.js';
import { tempDir } from './temp-dir.js';

/** How long a start or restart may take before it fails (a cold start takes about 1 s). */
const READY_TIMEOUT_MS = 20_000;
const POLL_MS = 100;

export interface NatsClusterOptions {
  /** Number of nodes (default 3, the smallest cluster that survives losing one). */
  nodes?: number;
}

export interface NatsCluster {
  /** nats://127.0.0.1:<port> of each node, by index. */
  readonly urls: readonly string[];
  /** The urls joined with commas, as a `servers` option or a --nats flag takes them. */
  readonly servers: string;
  /** The node's HTTP monitor base, e.g. http://127.0.0.1:<port>. */
  monitorUrl(i: number): string;
  /** Sends `signal` to node i and resolves once it has exited (no-op when it is down). */
  kill(i: number, signal?: NodeJS.Signals): Promise<void>;
  /**
   * SIGSTOPs node i (a partition as the others see it: its routes go silent, nothing
   * closes) and resolves once every thread of it has stopped (a loaded machine can take a
   * moment: a write sent before then could still be replicated); resume SIGCONTs it.
   */
  pause(i: number): Promise<void>;
  resume(i: number): void;
  /** Starts a stopped node i again (same ports, config, store) and waits until healthy. */
  restart(i: number): Promise<void>;
  /** Kills every node and removes the temp directory; safe to call twice. */
  stop(): Promise<void>;
  /**
   * The index of the node leading `stream` now, or undefined while there is no settled
   * leader (during an election, or when the stream does not exist).
   */
  streamLeader(stream: string): Promise<number | undefined>;
  /** Polls streamLeader until there is one, failing after `timeoutMs`. */
  waitStreamLeader(stream: string, timeoutMs?: number): Promise<number>;
  /**
   * Asks `stream`'s leader to step down until node i leads it (a leader change picks at
   * random), failing after `timeoutMs`.
   */
  moveStreamLeader(stream: string, i: number, timeoutMs?: number): Promise<void>;
  /** Waits until node i's own copy of `stream` holds every message up to `lastSeq`. */
  waitCaughtUp(i: number, stream: string, lastSeq: number, timeoutMs?: number): Promise<void>;
}

/**
 * Where nats-server is: QUIVER_NATS_SERVER, else PATH, else /usr/sbin (where Debian puts it,
 * which a non-root PATH often lacks).
 */
export function natsServerPath(): string | undefined {
  const override = process.env['QUIVER_NATS_SERVER'];
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin'];
  const candidates = override !== undefined ? [override] : dirs.map((d) => join(d, 'nats-server'));
  return candidates.find((p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The `skip` option for tests that need nats-server (a failing test under CI instead). */
export function needsNatsServer(): string | false {
  return needs(
    'nats-server',
    natsServerPath() !== undefined,
    'not found on PATH, in /usr/sbin or at QUIVER_NATS_SERVER (Debian package nats-server; .ci/run installs it)',
  );
}

interface Node {
  readonly name: string;
  readonly client: number;
  readonly route: number;
  readonly monitor: number;
  readonly conf: string;
  readonly log: string;
  readonly pidFile: string;
  /** False for a one-node "cluster": a standalone server (see config). */
  readonly clustered: boolean;
  child: ChildProcess | undefined;
  exited: Promise<void>;
  /** How the last process ended (exit code or signal), for error messages. */
  ended: string;
}

/** Children of every cluster still running, killed synchronously if the process exits. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

/** Starts the cluster and waits until every node is healthy with a meta leader elected. */
export async function startNatsCluster(
  t: TestContext | undefined,
  options: NatsClusterOptions = {},
): Promise<NatsCluster> {
  const bin = natsServerPath();
  if (bin === undefined) throw new Error('nats-server is not installed (see needsNatsServer)');
  const count = options.nodes ?? 3;
  if (!Number.isInteger(count) || count < 1) throw new Error(`nodes must be ≥ 1, got ${count}`);
  const dir = tempDir(undefined, 'quiver-nats-');
  mkdirSync(join(dir, 'pids'));
  const nodes = await planNodes(dir, count);
  installExitHook();
  const watchdog = startWatchdog(dir);
  const cluster = makeCluster(bin, dir, nodes, watchdog);
  if (t !== undefined) t.after(() => cluster.stop());
  try {
    for (const node of nodes) launch(bin, node);
    await Promise.all(nodes.map((node) => waitHealthy(node, READY_TIMEOUT_MS)));
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/** Ports and config files for every node; every node routes to all (itself is ignored). */
async function planNodes(dir: string, count: number): Promise<Node[]> {
  const ports = await freePorts(count * 3);
  const nodes: Node[] = [];
  for (let i = 0; i < count; i++) {
    const name = `n${i}`;
    nodes.push({
      name,
      client: ports[i * 3]!,
      route: ports[i * 3 + 1]!,
      monitor: ports[i * 3 + 2]!,
      conf: join(dir, `${name}.conf`),
      log: join(dir, `${name}.log`),
      pidFile: join(dir, 'pids', `${name}.pid`),
      clustered: count > 1,
      child: undefined,
      exited: Promise.resolve(),
      ended: 'not started',
    });
  }
  const routes = nodes.map((n) => `nats-route://127.0.0.1:${n.route}`);
  for (const node of nodes) writeFileSync(node.conf, config(node, join(dir, node.name), routes));
  return nodes;
}

function config(node: Node, storeDir: string, routes: string[]): string {
  // Explicit store limits: the defaults are fractions of the machine's memory and disk,
  // which would make placement depend on where the test runs.
  const server = `server_name: ${node.name}
listen: 127.0.0.1:${node.client}
http: 127.0.0.1:${node.monitor}
jetstream {
  store_dir: ${JSON.stringify(storeDir)}
  max_memory_store: 256MB
  max_file_store: 1GB
}
`;
  // A clustered node alone never elects a meta leader, so one node runs standalone.
  if (!node.clustered) return server;
  return `${server}cluster {
  name: quiver-test
  listen: 127.0.0.1:${node.route}
  routes: [
    ${routes.join('\n    ')}
  ]
}
`;
}

/**
 * `count` distinct free ports: each bound on port 0 and all held until every one is known,
 * so none repeats; closed before nats-server binds them (a small race other processes
 * could win, in which case that node fails to start and says so in its log).
 */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
    }
    return servers.map((s) => (s.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

/**
 * A shell that waits for its stdin to close, which happens when this process ends however
 * it ends (SIGKILL included, where no exit hook runs; or without stop()), then SIGKILLs every
 * pid recorded in `dir`/pids (each file names a node running now) and removes `dir`, unless
 * QUIVER_KEEP_TMP=1. After stop() it finds nothing left to do.
 */
function startWatchdog(dir: string): ChildProcess {
  const keep = process.env['QUIVER_KEEP_TMP'] === '1' ? 'keep' : 'remove';
  // The pause lets the killed servers go before their directory does.
  const script = `cat >/dev/null
for f in "$0"/pids/*.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
[ "$1" = keep ] || { sleep 0.5; rm -rf "$0"; }`;
  const watchdog = spawn('sh', ['-c', script, dir, keep], { stdio: ['pipe', 'ignore', 'ignore'] });
  watchdog.on('error', () => {}); // without sh there is no watchdog; the exit hook remains
  // Neither the watchdog nor its pipe may keep the test process alive.
  watchdog.unref();
  if (watchdog.stdin instanceof Socket) watchdog.stdin.unref();
  return watchdog;
}

function launch(bin: string, node: Node): void {
  const log = openSync(node.log, 'a');
  let child: ChildProcess;
  try {
    child = spawn(bin, ['-c', node.conf], { stdio: ['ignore', log, log] });
  } finally {
    closeSync(log); // the child has its own copy
  }
  child.on('error', () => {}); // a failed spawn also emits 'exit', which is what we wait on
  node.exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      node.ended = signal ?? `exit code ${code}`;
      running.delete(child);
      rmSync(node.pidFile, { force: true }); // no stale pid for the watchdog to kill
      node.child = undefined;
      resolve();
    });
  });
  child.unref(); // a test that forgets stop() still ends; the exit hook then kills it
  node.child = child;
  running.add(child);
  if (child.pid !== undefined) writeFileSync(node.pidFile, String(child.pid));
}

function makeCluster(
  bin: string,
  dir: string,
  nodes: readonly Node[],
  watchdog: ChildProcess,
): NatsCluster {
  const urls = nodes.map((n) => `nats://127.0.0.1:${n.client}`);
  const node = (i: number): Node => {
    const n = nodes[i];
    if (n === undefined) throw new Error(`no node ${i} (cluster of ${nodes.length})`);
    return n;
  };
  let stopped = false;
  const cluster: NatsCluster = {
    urls,
    servers: urls.join(','),
    monitorUrl: (i) => `http://127.0.0.1:${node(i).monitor}`,
    kill: (i, signal = 'SIGKILL') => killNode(node(i), signal),
    async pause(i) {
      const child = node(i).child;
      if (child?.pid === undefined) throw new Error(`node ${i} is not running`);
      child.kill('SIGSTOP');
      const end = Date.now() + 5_000;
      while (!threadsStopped(child.pid)) {
        if (Date.now() > end) throw new Error(`node ${i} did not stop within 5 s of SIGSTOP`);
        await new Promise((r) => setTimeout(r, 2));
      }
    },
    resume: (i) => void node(i).child?.kill('SIGCONT'),
    async restart(i) {
      const n = node(i);
      if (n.child !== undefined) throw new Error(`node ${i} is still running: kill it first`);
      launch(bin, n);
      await waitHealthy(n, READY_TIMEOUT_MS);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.all(nodes.map((n) => killNode(n, 'SIGKILL')));
      watchdog.stdin?.end(); // nothing left for it to kill; it exits on EOF
      if (process.env['QUIVER_KEEP_TMP'] !== '1') rmSync(dir, { recursive: true, force: true });
    },
    streamLeader: (stream) => streamLeader(nodes, stream),
    async waitStreamLeader(stream, timeoutMs = READY_TIMEOUT_MS) {
      let leader: number | undefined;
      await poll(timeoutMs, async () => {
        leader = await streamLeader(nodes, stream);
        return leader !== undefined;
      });
      if (leader === undefined) throw new Error(`stream ${stream}: no leader in ${timeoutMs} ms`);
      return leader;
    },
    async moveStreamLeader(stream, i, timeoutMs = READY_TIMEOUT_MS) {
      const nc = await connect({ servers: urls[i]! });
      try {
        const moved = await poll(timeoutMs, async () => {
          const leader = await streamLeader(nodes, stream);
          if (leader === i) return true;
          if (leader !== undefined) {
            await nc
              .request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, undefined, { timeout: 5_000 })
              .catch(() => undefined);
            await new Promise((r) => setTimeout(r, 1_000)); // the election
          }
          return false;
        });
        if (!moved) throw new Error(`stream ${stream}: node ${i} did not become leader`);
      } finally {
        await nc.close();
      }
    },
    async waitCaughtUp(i, stream, lastSeq, timeoutMs = READY_TIMEOUT_MS) {
      const n = node(i);
      let seen: number | undefined;
      const ok = await poll(timeoutMs, async () => {
        seen = findStream(await jsz(n), stream)?.state?.last_seq;
        return seen !== undefined && seen >= lastSeq;
      });
      if (!ok) {
        const msg = `${n.name}: stream ${stream} at seq ${seen ?? 'none'}, not ${lastSeq}, after ${timeoutMs} ms`;
        throw new Error(`${msg}\n${logTail(n)}`);
      }
    },
  };
  return cluster;
}

/** Signals the node and waits for it to exit (bounded: a signal it ignores fails here). */
async function killNode(node: Node, signal: NodeJS.Signals): Promise<void> {
  const child = node.child;
  if (child === undefined) return;
  child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), 10_000);
  });
  const outcome = await Promise.race([node.exited, timeout]);
  clearTimeout(timer);
  if (outcome === 'timeout') throw new Error(`${node.name} did not exit within 10 s of ${signal}`);
}

/**
 * Healthy means /healthz answers 200, which in 2.9 also requires contact with the meta
 * leader and every local stream current (?js-enabled-only=true only says JetStream is on),
 * and, when clustered, /jsz names a meta leader (a standalone server has no meta_cluster).
 * Fails early, with the log, if the process exits.
 */
async function waitHealthy(node: Node, timeoutMs: number): Promise<void> {
  let last = 'no answer yet';
  const ok = await poll(timeoutMs, async () => {
    if (node.child === undefined)
      throw new Error(`${node.name} ended while starting (${node.ended})\n${logTail(node)}`);
    const res = await get(`http://127.0.0.1:${node.monitor}/healthz`);
    if (res === undefined) return false;
    last = `/healthz ${res.status} ${res.body}`;
    if (res.status !== 200) return false;
    if (!node.clustered) return true;
    const leader = (await jsz(node))?.meta_cluster?.leader;
    last = `/healthz 200, meta leader ${leader ?? 'none'}`;
    return leader !== undefined && leader !== '';
  });
  if (!ok)
    throw new Error(`${node.name} not healthy after ${timeoutMs} ms (${last})\n${logTail(node)}`);
}

/**
 * The node that claims `stream` and is named its leader by a majority of the cluster's
 * nodes. A lone claim is not enough: a restarted node reports its pre-crash view for a
 * moment before it has heard from the others.
 */
async function streamLeader(nodes: readonly Node[], stream: string): Promise<number | undefined> {
  const views = await Promise.all(
    nodes.map(async (n) => (n.child === undefined ? undefined : findStream(await jsz(n), stream))),
  );
  const names = views.map((v) => v?.cluster?.leader);
  const majority = Math.floor(nodes.length / 2) + 1;
  for (let i = 0; i < nodes.length; i++) {
    const name = nodes[i]!.name;
    if (names[i] !== name) continue;
    if (names.filter((l) => l === name).length >= majority) return i;
  }
  return undefined;
}

/** The parts of /jsz?accounts=true&streams=true this file reads (nats-server 2.9). */
interface Jsz {
  meta_cluster?: { leader?: string };
  account_details?: { name: string; stream_detail?: StreamDetail[] }[];
}
interface StreamDetail {
  name: string;
  cluster?: { leader?: string };
  state?: { messages: number; last_seq: number };
}

/** The node's /jsz with stream details, or undefined when it does not answer. */
async function jsz(node: Node): Promise<Jsz | undefined> {
  const url = `http://127.0.0.1:${node.monitor}/jsz?accounts=true&streams=true`;
  const res = await get(url);
  if (res === undefined || res.status !== 200) return undefined;
  try {
    return JSON.parse(res.body) as Jsz;
  } catch {
    return undefined;
  }
}

function findStream(view: Jsz | undefined, stream: string): StreamDetail | undefined {
  for (const account of view?.account_details ?? []) {
    const found = account.stream_detail?.find((s) => s.name === stream);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Status and whole body of a GET, or undefined when the node does not answer in full. */
async function get(url: string): Promise<{ status: number; body: string } | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return { status: res.status, body: await res.text() };
  } catch {
    return undefined; // down, starting, or killed mid-request: the caller polls again
  }
}

/** Calls `check` every POLL_MS until it returns true (→ true) or `timeoutMs` passes (→ false). */
async function poll(timeoutMs: number, check: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function logTail(node: Node, lines = 20): string {
  let text: string;
  try {
    text = readFileSync(node.log, 'utf8');
  } catch {
    return `(no log at ${node.log})`;
  }
  // Every failed poll of /healthz logs a warning, which would push out the lines that say why.
  const tail = text
    .trimEnd()
    .split('\n')
    .filter((line) => !line.includes('Healthcheck failed'))
    .slice(-lines)
    .join('\n');
  return `last ${lines} lines of ${node.log} (health-check warnings left out):\n${tail}`;
}

/** True when every thread of process `pid` is stopped (state T in /proc/<pid>/task/<tid>/stat). */
function threadsStopped(pid: number): boolean {
  const tasks = readdirSync(`/proc/${pid}/task`);
  return tasks.every((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    // The state follows the command name, which is in parentheses and may hold spaces.
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
  });
}
