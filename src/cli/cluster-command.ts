/**
 * `quiver cluster status|nodes|shards --nats URLS [--json]`: the cluster as its NATS
 * servers hold it — collections and their shard streams (end, leader, replicas), the
 * nodes that beat recently, and each node's lag per shard. Reads the servers directly, so
 * it answers while every Quiver node is down. Changing the cluster (moving shards,
 * draining nodes) is not built yet.
 */
import type { Command } from 'commander';
import type { ClusterReport } from '../cluster/cluster-report.js';
import { clusterReport } from '../cluster/cluster-report.js';
import { printJson, printTable } from './cli-support.js';

interface ClusterOpts {
  readonly nats?: string;
  readonly json?: boolean;
}

export function registerClusterCommand(program: Command): void {
  const cluster = program
    .command('cluster')
    .description('Inspect a Quiver cluster through its NATS JetStream servers (docs/CLUSTER.md).');
  const views: [string, string, (r: ClusterReport) => void][] = [
    ['status', 'collections, shard streams and the nodes, with each node’s lag', printStatus],
    ['nodes', 'the nodes that sent a heartbeat in the last 10 s', printNodes],
    ['shards', 'every shard stream: its end, leader, replicas and lag per node', printShards],
  ];
  for (const [name, what, print] of views) {
    cluster
      .command(name)
      .description(`Show ${what}.`)
      .requiredOption(
        '--nats <urls>',
        'NATS servers, comma-separated (as given to serve --cluster)',
      )
      .option('--json', 'print JSON')
      .addHelpText(
        'after',
        `\nExample:\n  $ quiver cluster ${name} --nats nats://127.0.0.1:4222,nats://127.0.0.1:4223`,
      )
      .action(async (opts: ClusterOpts) => {
        const servers = (opts.nats ?? '')
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '');
        const report = await clusterReport(servers);
        if (opts.json === true) printJson(name === 'status' ? report : pick(report, name));
        else print(report);
      });
  }
}

function pick(r: ClusterReport, view: string): unknown {
  if (view === 'nodes') return r.nodes;
  return r.collections.flatMap((c) => c.shardReports.map((s) => ({ collection: c.name, ...s })));
}

function printStatus(r: ClusterReport): void {
  process.stdout.write(`servers     ${r.servers.join(',')}\n`);
  process.stdout.write(`nodes       ${r.nodes.length} (${r.nodes.map((n) => n.id).join(', ')})\n`);
  process.stdout.write(`collections ${r.collections.length}\n\n`);
  printShards(r);
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

function printShards(r: ClusterReport): void {
  printTable(
    ['COLLECTION', 'SHARD', 'STREAM', 'LAST SEQ', 'LEADER', 'REPLICAS', 'NODE LAG'],
    r.collections.flatMap((c) =>
      c.shardReports.map((s) => [
        c.name,
        String(s.shard),
        s.stream,
        String(s.lastSeq),
        s.leader ?? '(none)',
        s.replicas.map((x) => `${x.server}${x.current ? '' : ' (behind)'}`).join(' ') || '-',
        s.nodes.map((n) => `${n.node}:${n.lag}`).join(' ') || '-',
      ]),
    ),
  );
}
