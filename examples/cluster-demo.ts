/**
 * The cluster walk-through (README "Try a cluster"): against the three nodes that
 * `scripts/local-cluster.sh start` runs, it makes a collection of 3 shards with 2 replicas
 * each through node-1 with the official Qdrant client, loads points, SIGKILLs node-2, keeps
 * writing through node-3, restarts node-2 and counts on every node: every acknowledged
 * point is there. Exits 1 if any count is short.
 */
import { spawnSync } from 'node:child_process';
import { QdrantClient } from '@qdrant/js-client-rest';

const dir = process.argv[2] ?? './local-cluster';
const urls = ['http://127.0.0.1:6333', 'http://127.0.0.1:6334', 'http://127.0.0.1:6335'];
const clients = urls.map((url) => new QdrantClient({ url, checkCompatibility: false }));
const [one, , three] = clients as [QdrantClient, QdrantClient, QdrantClient];
const DIM = 16;
const vector = (i: number): number[] =>
  Array.from({ length: DIM }, (_, d) => Math.sin(i * 0.37 + d) + Math.cos(i * d * 0.11));

function cluster(...args: string[]): void {
  const r = spawnSync('bash', ['scripts/local-cluster.sh', ...args, dir], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`local-cluster.sh ${args.join(' ')} failed`);
}

async function load(client: QdrantClient, from: number, count: number): Promise<number> {
  for (let i = from; i < from + count; i += 250) {
    const points = Array.from({ length: 250 }, (_, j) => ({
      id: i + j,
      vector: vector(i + j),
      payload: { n: i + j },
    }));
    await client.upsert('demo', { wait: true, points });
  }
  return count;
}

/** Qdrant's count with `consistency=majority` (the JS client has no field for it). */
async function counts(label: string, alive: string[]): Promise<number[]> {
  const out: number[] = [];
  for (const url of alive) {
    const res = await fetch(`${url}/collections/demo/points/count?consistency=majority`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"exact":true}',
    });
    out.push(((await res.json()) as { result: { count: number } }).result.count);
  }
  console.log(`${label}: ${out.join(' / ')}`);
  return out;
}

if ((await one.collectionExists('demo')).exists) await one.deleteCollection('demo');
await one.createCollection('demo', {
  vectors: { size: DIM, distance: 'Cosine' },
  shard_number: 3,
  replication_factor: 2,
});
let acknowledged = await load(one, 0, 3000);
console.log(`loaded ${acknowledged} points through node-1`);
await counts('count on node-1 / node-2 / node-3', urls);

cluster('kill', '2');
acknowledged += await load(three, 3000, 1000);
console.log(`loaded 1000 more through node-3 while node-2 is down`);
await counts('count on node-1 / node-3', [urls[0]!, urls[2]!]);

cluster('restart', '2');
const final = await counts('count on node-1 / node-2 / node-3 after the restart', urls);
const hit = (await clients[1]!.search('demo', { vector: vector(3500), limit: 1 }))[0];
console.log(`search on node-2 for point 3500's vector finds id ${String(hit?.id)}`);
if (final.some((n) => n !== acknowledged)) {
  console.error(`LOST: ${acknowledged} acknowledged, counts ${final.join(', ')}`);
  process.exit(1);
}
console.log(`nothing lost: ${acknowledged} acknowledged, ${acknowledged} on every node`);
