/**
 * The quickstart example (`npm run example`): opens ./example-data (its own directory, so
 * it never meets the ./data that `npm start` serves and locks), writes a few documents
 * with vectors and payloads, searches with and without a filter, and prints the results.
 */
import { Quiver } from '../src/index.js';

const dir = process.argv[2] ?? './example-data';
const db = await Quiver.open(dir, { fsync: 'batch' });
console.log(`opened ${db.path} (recovered ${db.recovery.recordsReplayed} log records)`);

const docs = db.hasCollection('quickstart')
  ? db.collection('quickstart')
  : await db.createCollection('quickstart', { dimension: 4, metric: 'cosine' });

const { lsn } = await docs.upsert([
  {
    id: 1,
    vector: [0.9, 0.1, 0.0, 0.0],
    payload: { title: 'Vectors in TypeScript', lang: 'en', price: 10 },
  },
  {
    id: 2,
    vector: [0.8, 0.2, 0.1, 0.0],
    payload: { title: 'Vektoren in TypeScript', lang: 'de', price: 12 },
  },
  {
    id: 3,
    vector: [0.0, 0.1, 0.9, 0.2],
    payload: { title: 'Cooking with rice', lang: 'en', price: 150 },
  },
  {
    id: 'a-uuid-or-any-string',
    vector: [0.1, 0.9, 0.1, 0.1],
    payload: { title: 'Crash-safe logs', lang: 'en', price: 40 },
  },
]);
console.log(`upserted 4 points, durable at LSN ${lsn}; collection holds ${await docs.count()}`);

const query = [1, 0.1, 0, 0];
console.log('\nnearest 3:');
for (const hit of await docs.search(query, { k: 3 })) {
  console.log(
    `  ${String(hit.id).padEnd(22)} score ${hit.score.toFixed(4)}  ${JSON.stringify(hit.payload?.['title'])}`,
  );
}

const filter = { lang: 'en', price: { $lt: 100 } };
console.log(`\nnearest 3 with filter ${JSON.stringify(filter)}:`);
const { hits, explain } = await docs.search(query, { k: 3, filter, explain: true });
for (const hit of hits) {
  console.log(
    `  ${String(hit.id).padEnd(22)} score ${hit.score.toFixed(4)}  ${JSON.stringify(hit.payload?.['title'])}`,
  );
}
console.log(`  plan: ${explain.plan}, distance computations: ${explain.distanceComputations}`);

await db.close();
console.log('\nclosed cleanly; run again to see the data reopened from disk');
