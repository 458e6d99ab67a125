/**
 * `quiver cluster status|nodes|shards --nats URLS [--json]`: the cluster as its NATS
 * servers hold it — collections and their shard streams (end, leader, replicas), the
 * nodes that beat recently, and each node's lag per shard. Reads the servers directly, so
 * it answers while every Quiver node is down. `move-shard`, `replicate-shard`,
 * `drop-replica` and `drain` change where shard replicas live (cluster/shard-moves.ts),
 * printing each step and waiting until the nodes have done it. `reshard` changes a
 * collection's shard count while it takes writes (cluster/resharding.ts).
 */
import type { Command } from 'commander';
import type { ClusterReport, ShardReport } from '../cluster/cluster-report.js';
import { withCluster } from '../cluster/cluster-connection.js';
import { clusterReport } from '../cluster/cluster-report.js';
import { AGREEMENT_WINDOW, splitPoints } from '../cluster/replica-agreement.js';
import type { MoveOptions } from '../cluster/shard-moves.js';
import { abortReshard, reshard } from '../cluster/resharding.js';
import { drainNode, dropReplica, moveShard, replicateShard } from '../cluster/shard-moves.js';
import { QuiverError } from '../common/quiver-error.js';
import { parseInteger, printJson, printTable } from './cli-support.js';

interface ClusterOpts {
  readonly nats?: string;
  readonly json?: boolean;
  readonly checkLast: number;
}

interface MoveOpts {
  readonly nats: string;
  readonly collection?: string;
  readonly shard?: string;
  readonly from?: string;
  readonly to?: string;
  readonly node?: string;
  readonly timeout: string;
}

const NATS_HELP = 'NATS servers, comma-separated (as given to serve --cluster)';
const EXAMPLE_NATS = 'nats://127.0.0.1:4222,nats://127.0.0.1:4223';

/** The URLs of a comma-separated list, blanks dropped (possibly none). */
export function serversOf(nats: string | undefined): string[] {
  return (nats ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export function registerClusterCommand(program: Command): void {
  const cluster = program
    .command('cluster')
    .description(
      'Inspect a Quiver cluster through its NATS JetStream servers, and move shard replicas between its nodes (docs/CLUSTER.md).',
    );
  const views: [string, string, (r: ClusterReport) => void][] = [
    ['status', 'collections, shard streams and the nodes, with each node’s lag', printStatus],
    ['nodes', 'the nodes that sent a heartbeat in the last 10 s', printNodes],
    ['shards', 'every shard stream: its end, leader, replicas and lag per node', printShards],
  ];
  for (const [name, what, print] of views) {
    cluster
      .command(name)
      .description(`Show ${what}.`)
      .requiredOption('--nats <urls>', NATS_HELP)
      .option('--json', 'print JSON')
      .option(
        '--check-last <n>',
        "compare the NATS servers' copies of each shard stream's last n messages (0: skip)",
        parseInteger('--check-last'),
        AGREEMENT_WINDOW,
      )
      .addHelpText('after', `\nExample:\n  $ quiver cluster ${name} --nats ${EXAMPLE_NATS}`)
      .action(async (opts: ClusterOpts) => {
        const report = await clusterReport(serversOf(opts.nats), opts.checkLast);
        if (opts.json === true) printJson(name === 'status' ? report : pick(report, name));
        else print(report);
      });
  }
  registerMoves(cluster);
  registerReshard(cluster);
}

interface ReshardOpts {
  readonly nats: string;
  readonly collection: string;
  readonly shards?: string;
  readonly abort?: boolean;
  readonly timeout: string;
}

/** `quiver cluster reshard`: a collection to a new shard count, resumable, abortable. */
function registerReshard(cluster: Command): void {
  cluster
    .command('reshard')
    .description(
      'Change the number of shards of a collection while it takes writes: new shard streams are filled from the old ones, the old ones are sealed and their tail copied, then every node swaps in its copy of the new shards. Stopped, it resumes when run again with the same --shards; before the old streams are sealed, --abort undoes it.',
    )
    .requiredOption('--nats <urls>', NATS_HELP)
    .requiredOption('--collection <name>', FLAG_HELP['collection'])
    .option('--shards <n>', 'the new number of shards (1 to 64)')
    .option('--abort', 'stop a resharding in progress (only before its old streams are sealed)')
    .option('--timeout <seconds>', 'how long to wait for every node to switch', '600')
    .addHelpText(
      'after',
      `\nExamples:\n  $ quiver cluster reshard --nats ${EXAMPLE_NATS} --collection docs --shards 6\n  $ quiver cluster reshard --nats ${EXAMPLE_NATS} --collection docs --abort`,
    )
    .action(async (opts: ReshardOpts) => {
      const servers = serversOf(opts.nats);
      if (opts.abort === true) {
        const r = await withCluster(servers, (meta, jsm) =>
          abortReshard(meta, jsm, opts.collection),
        );
        process.stderr.write(
          `reshard: the resharding of "${opts.collection}" to ${r.shards} shards was aborted\n`,
        );
        return;
      }
      const shards = Number(opts.shards);
      if (opts.shards === undefined || !Number.isInteger(shards)) {
        throw new QuiverError(
          'INVALID_ARGUMENT',
          `--shards must be a number of shards, got ${String(opts.shards)}.`,
          {},
        );
      }
      const timeoutMs = Number(opts.timeout) * 1000;
      if (!(timeoutMs > 0)) {
        throw new QuiverError(
          'INVALID_ARGUMENT',
          `--timeout must be a number of seconds, got ${opts.timeout}.`,
          {},
        );
      }
      const r = await withCluster(servers, (meta, jsm, js) =>
        reshard(meta, jsm, js, opts.collection, shards, {
          timeoutMs,
          onProgress: (m) => process.stderr.write(`${m}\n`),
        }),
      );
      process.stderr.write(
        `reshard: "${r.collection}" now has ${r.to} shards (was ${r.from}); ${r.copied} operations copied in ${r.seconds.toFixed(1)} s\n`,
      );
    });
}

/** The commands that change where replicas live. */
function registerMoves(cluster: Command): void {
  const moves: [string, string, string[], string, MoveStep][] = [
    [
      'move-shard',
      'Move one replica of a shard to another node: the new replica reads the shard from its stream, becomes active once caught up, then the old one is dropped.',
      ['collection', 'shard', 'from', 'to'],
      '--collection docs --shard 0 --from node-a --to node-b',
      (meta, o, progress) => moveShard(meta, o.collection!, shardOf(o), o.from!, o.to!, progress),
    ],
    [
      'replicate-shard',
      'Add a replica of a shard on a node and wait until it is active.',
      ['collection', 'shard', 'to'],
      '--collection docs --shard 0 --to node-c',
      (meta, o, progress) => replicateShard(meta, o.collection!, shardOf(o), o.to!, progress),
    ],
    [
      'drop-replica',
      'Remove one replica of a shard from a node (refused for the last active replica).',
      ['collection', 'shard', 'node'],
      '--collection docs --shard 0 --node node-a',
      (meta, o) => dropReplica(meta, o.collection!, shardOf(o), o.node!),
    ],
    [
      'drain',
      'Take every shard replica off a node (moving those it alone holds) so it can be stopped for good.',
      ['node'],
      '--node node-a',
      async (meta, o, progress) => {
        const n = await drainNode(meta, o.node!, progress);
        process.stdout.write(`${o.node!}: ${n} replica(s) removed; it holds no shard now.\n`);
      },
    ],
  ];
  for (const [name, what, needs, example, run] of moves) {
    const cmd = cluster
      .command(name)
      .description(what)
      .requiredOption('--nats <urls>', NATS_HELP)
      .option('--timeout <seconds>', 'how long to wait for a new replica to catch up', '600');
    for (const flag of needs) cmd.requiredOption(`--${flag} <${flag}>`, FLAG_HELP[flag]);
    cmd
      .addHelpText(
        'after',
        `\nExample:\n  $ quiver cluster ${name} --nats ${EXAMPLE_NATS} ${example}`,
      )
      .action(async (opts: MoveOpts) => {
        const timeoutMs = Number(opts.timeout) * 1000;
        if (!(timeoutMs > 0)) {
          throw new QuiverError(
            'INVALID_ARGUMENT',
            `--timeout must be a number of seconds, got ${opts.timeout}.`,
            {},
          );
        }
        const progress: MoveOptions = {
          timeoutMs,
          onProgress: (m) => process.stderr.write(`${m}\n`),
        };
        await withCluster(serversOf(opts.nats), (meta) => run(meta, opts, progress));
        process.stderr.write(`${name}: done\n`);
      });
  }
}

type MoveStep = (
  meta: Parameters<typeof moveShard>[0],
  o: MoveOpts,
  progress: MoveOptions,
) => Promise<void>;

const FLAG_HELP: Record<string, string> = {
  collection: 'the cluster collection',
  shard: 'the shard number (0 to shards - 1)',
  from: 'the node that holds the replica now',
  to: 'the node to hold the replica',
  node: 'the node, by name (see quiver cluster nodes)',
};

function shardOf(o: MoveOpts): number {
  const n = Number(o.shard);
  if (!Number.isInteger(n) || n < 0) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `--shard must be a shard number, got ${String(o.shard)}.`,
      {},
    );
  }
  return n;
}

function pick(r: ClusterReport, view: string): unknown {
  if (view === 'nodes') return r.nodes;
  return r.collections.flatMap((c) => c.shardReports.map((s) => ({ collection: c.name, ...s })));
}

function printStatus(r: ClusterReport): void {
  process.stdout.write(`servers     ${r.servers.join(',')}\n`);
  process.stdout.write(`nodes       ${r.nodes.length} (${r.nodes.map((n) => n.id).join(', ')})\n`);
  process.stdout.write(`collections ${r.collections.length}\n`);
  for (const c of r.collections) {
    const rs = c.resharding;
    if (rs === undefined) continue;
    process.stdout.write(
      `resharding  ${c.name}: ${c.shards} → ${rs.shards} shards since ${rs.startedAt}${rs.sealed ? ' (old streams sealed: copying the tail)' : ''}\n`,
    );
  }
  process.stdout.write('\n');
  printShards(r);
  for (const c of r.collections) {
    for (const s of c.shardReports) {
      const split = s.agreement?.diverged;
      if (split === undefined) continue;
      const points = splitPoints(split);
      process.stdout.write(
        `\nSPLIT       ${c.name} shard ${s.shard}: the NATS servers' copies of ${s.stream} hold ${split.versions.length} different messages at sequence ${split.seq}, so nodes may hold different versions of points ${JSON.stringify(points)}. Write those points again (upsert or delete) from your source: see docs/RUNBOOK.md#a-shard-streams-copies-differ.\n`,
      );
    }
  }
}

function printNodes(r: ClusterReport): void {
  printTable(
    ['NODE', 'URL', 'STARTED', 'LAST BEAT', 'STATE'],
    r.nodes.map((n) => [
      n.id,
      n.url ?? '-',
      n.startedAt,
      n.beatAt,
      n.catchingUp ? 'catching up' : 'up',
    ]),
  );
}

/**
 * `agree (3)`: three servers' copies hold the same last messages; `agree to N (3)` when the
 * comparison stopped at a message some copy did not give yet; `SPLIT at N` when they differ.
 */
function copiesCell(s: ShardReport): string {
  const a = s.agreement;
  if (a === undefined) return '-';
  if (a.diverged !== undefined) return `SPLIT at ${a.diverged.seq}`;
  if (a.to < a.from) return `unchecked (${a.servers.length})`;
  return a.to < s.lastSeq
    ? `agree to ${a.to} (${a.servers.length})`
    : `agree (${a.servers.length})`;
}

function printShards(r: ClusterReport): void {
  printTable(
    ['COLLECTION', 'SHARD', 'STREAM', 'LAST SEQ', 'LEADER', 'REPLICAS', 'COPIES', 'NODE LAG'],
    r.collections.flatMap((c) =>
      c.shardReports.map((s) => [
        c.name,
        String(s.shard),
        s.stream,
        String(s.lastSeq),
        s.leader ?? '(none)',
        s.replicas.map((x) => `${x.server}${x.current ? '' : ' (behind)'}`).join(' ') || '-',
        copiesCell(s),
        s.nodes
          .map((n) => `${n.node}:${n.lag}${n.state === 'active' ? '' : ` (${n.state})`}`)
          .join(' ') || '-',
      ]),
    ),
  );
}
