/**
 * Reads a range of a shard stream in order, with each message's stored time, for tools that
 * copy a stream out (a cluster backup). Like the applier it uses a plain ephemeral pull
 * consumer that this reader owns; a consumer that stops delivering (a leader change, see
 * shard-applier.ts) is replaced by one starting after the last message read, a few times,
 * before the read fails as UNAVAILABLE.
 */
import { randomUUID } from 'node:crypto';
import type { JetStreamClient, JetStreamManager } from 'nats';
import { QuiverError } from '../common/quiver-error.js';
import type { ArchivedMessage } from './shard-archive.js';
import { addReadConsumer, storedAtMs, unavailable } from './shard-log.js';
import type { ShardRef } from './shard-routing.js';
import { streamName } from './shard-routing.js';

/** Messages per fetch: at most 100 of up to 1 MiB each stay well inside one request's time. */
const BATCH = 100;
/** A fetch that brings nothing for this long, while messages are due, counts as a stall. */
const FETCH_EXPIRES_MS = 3_000;
/** Consumers replaced in a row without a message before the read gives up. */
const ATTEMPTS = 5;

/** Yields messages `from`..`to` (inclusive) of the shard's stream, in sequence order. */
export async function* readShardStream(
  js: JetStreamClient,
  jsm: JetStreamManager,
  ref: ShardRef,
  from: number,
  to: number,
): AsyncGenerator<ArchivedMessage> {
  const stream = streamName(ref);
  const failed = (e: unknown) =>
    unavailable(`reading stream ${stream} of collection "${ref.collection}"`, e);
  let next = from;
  let idle = 0;
  while (next <= to) {
    if (idle >= ATTEMPTS) {
      throw new QuiverError(
        'UNAVAILABLE',
        `Reading stream ${stream} stopped at sequence ${next} of ${to}: ${ATTEMPTS} consumers in a row delivered nothing. Check the NATS servers (quiver cluster status) and run the backup again.`,
        { collection: ref.collection },
      );
    }
    const before = next;
    // Unique across processes and machines (two backups in containers share pid 1).
    const name = `quiver_read_${randomUUID().replaceAll('-', '')}`;
    try {
      await addReadConsumer(jsm, stream, name, next);
    } catch (e) {
      throw failed(e);
    }
    try {
      const consumer = await js.consumers.get(stream, name).catch((e: unknown) => {
        throw failed(e);
      });
      while (next <= to) {
        const want = Math.min(BATCH, to - next + 1);
        let got = 0;
        const batch = await consumer
          .fetch({ max_messages: want, expires: FETCH_EXPIRES_MS })
          .catch((e: unknown) => {
            throw failed(e);
          });
        for await (const m of batch) {
          if (m.seq < next || m.seq > to) continue;
          if (m.seq !== next) {
            throw new QuiverError(
              'CORRUPT',
              `Stream ${stream} skipped from sequence ${next - 1} to ${m.seq}: its messages in between are gone, so it cannot be copied whole.`,
              { collection: ref.collection, file: stream, offset: next },
            );
          }
          yield { seq: m.seq, timeMs: storedAtMs(m), data: m.data };
          next++;
          got++;
        }
        if (got === 0) break; // stalled or expired: a new consumer from `next`
      }
    } finally {
      await jsm.consumers.delete(stream, name).catch(() => undefined);
    }
    idle = next === before ? idle + 1 : 0;
  }
}
