/**
 * The search worker thread's entry: keeps one HnswLane per shared index it was sent
 * (instantiating the shared-memory WebAssembly module over the index's memory, so the
 * graph is never copied) and answers graph searches through its lane. Protocol:
 * src/server/search-workers.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isQuiverError } from '../common/quiver-error.js';
import { HnswLane } from '../ann/hnsw/hnsw-lane.js';
import type { WorkerReply, WorkerRequest } from './worker-search-pool.js';
import { NOT_LOADED } from './worker-search-pool.js';

const lane = (workerData as { lane: number }).lane;
const lanes = new Map<number, HnswLane>();
const port = parentPort;
if (port === null) throw new Error('search-worker.ts runs only as a worker thread');

port.on('message', (msg: WorkerRequest) => {
  switch (msg.t) {
    case 'add':
      // A bad handle fails its searches (the main thread then searches itself).
      try {
        lanes.set(msg.handle.id, new HnswLane(msg.handle, lane));
      } catch {
        lanes.delete(msg.handle.id);
      }
      return;
    case 'drop':
      lanes.delete(msg.id);
      return;
    case 'search': {
      let reply: WorkerReply;
      try {
        const searcher = lanes.get(msg.id);
        if (searcher === undefined) {
          // Its `add` failed: the pool sends it again with the next search.
          reply = {
            seq: msg.seq,
            error: `index ${msg.id} is not loaded in lane ${lane}`,
            code: NOT_LOADED,
          };
        } else {
          const r = searcher.search(msg.query, msg.k, msg.ef, msg.mode, msg.allow, msg.rescore);
          reply = {
            seq: msg.seq,
            ids: r.ids,
            scores: r.scores,
            visited: r.visited,
            distanceComputations: r.distanceComputations,
          };
        }
      } catch (e) {
        reply = {
          seq: msg.seq,
          error: e instanceof Error ? e.message : String(e),
          code: isQuiverError(e) ? e.code : 'UNAVAILABLE',
        };
      }
      port.postMessage(reply);
      return;
    }
  }
});
port.postMessage({ ready: true });
