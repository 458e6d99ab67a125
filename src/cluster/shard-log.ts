/**
 * A shard's log in cluster mode: one JetStream stream, replicated by NATS (Raft inside),
 * holding the same operation records as the local WAL (storage/wal/wal-body-codec.ts):
 * a message is the record type byte, then its body. Publishing returns the stream
 * sequence once a quorum holds the message; retries reuse the message id, so a retry
 * after a lost ack is stored once (JetStream's duplicate window).
 */
import type { JetStreamClient, JetStreamManager, StreamConfig } from 'nats';
import type { JsMsg, MsgHdrs } from 'nats';
import { AckPolicy, DeliverPolicy, headers, NatsError, nanos } from 'nats';
import { QuiverError } from '../common/quiver-error.js';
import type { PointOp } from '../engine/collection.js';
import { decodeWalOp, encodeWalOp } from '../storage/wal/wal-body-codec.js';
import type { ShardRef } from './shard-routing.js';
import { shardSubject, streamName } from './shard-routing.js';

/**
 * How long a publish keeps retrying. A stream leader's death stops acks for 4–7 s while
 * its replicas elect another (nats-server 2.9's fixed Raft timeout); 20 s covers that with
 * room for a slow machine, and a client that waited longer would have given up anyway.
 */
export const PUBLISH_DEADLINE_MS = 20_000;

/** The message of an operation: its WAL record type, then its WAL body. */
export function encodeOpMessage(op: PointOp): Uint8Array {
  const { type, body } = encodeWalOp(op);
  const out = new Uint8Array(body.length + 1);
  out[0] = type;
  out.set(body, 1);
  return out;
}

/**
 * The operation in message `seq` of `stream`. A message that is not one is CORRUPT: only
 * Quiver publishes on a shard's subject, so it came from something else (or a newer Quiver).
 */
export function decodeOpMessage(data: Uint8Array, stream: string, seq: number): PointOp {
  let op;
  try {
    if (data.length < 1) throw new RangeError('empty message');
    op = decodeWalOp(data[0]!, data.subarray(1), stream, seq);
  } catch (e) {
    throw notAnOp(stream, seq, e instanceof Error ? e.message : String(e), e);
  }
  if (op.kind !== 'upsert' && op.kind !== 'delete' && op.kind !== 'payload') {
    throw notAnOp(stream, seq, `a ${op.kind} record`);
  }
  return op;
}

function notAnOp(stream: string, seq: number, what: string, cause?: unknown): QuiverError {
  return new QuiverError(
    'CORRUPT',
    `Message ${seq} of stream ${stream} is not a Quiver point operation (${what}). Only Quiver may publish on a shard's subject; this node stops applying the shard there.`,
    { file: stream, offset: seq },
    cause,
  );
}

/**
 * Creates the shard's stream if it is missing (an existing one is kept as it is).
 * `replicas` is the stream's replication factor (3 in a 3-server cluster).
 */
export async function ensureShardStream(
  jsm: JetStreamManager,
  ref: ShardRef,
  replicas: number,
): Promise<void> {
  const name = streamName(ref);
  try {
    await jsm.streams.info(name);
    return;
  } catch (e) {
    if (!isNotFound(e)) throw unavailable(`reading stream ${name}`, e);
  }
  try {
    await jsm.streams.add({
      name,
      subjects: [shardSubject(ref)],
      num_replicas: replicas,
      // Direct gets let any replica answer "what is message n" (used to check the tail).
      allow_direct: true,
    });
  } catch (e) {
    // Another node created it first: the same stream, which is what we wanted.
    if (!/already in use|exists/i.test(String(e))) throw unavailable(`creating stream ${name}`, e);
  }
}

/**
 * Adds the ephemeral consumer a reader of `stream` owns: plain pull from sequence `from`, no
 * acks (the reader keeps its own position), in memory, dropped by the servers a minute
 * after its reader vanishes. Appliers and backups read streams through it.
 */
export async function addReadConsumer(
  jsm: JetStreamManager,
  stream: string,
  name: string,
  from: number,
): Promise<void> {
  await jsm.consumers.add(stream, {
    name,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: from,
    ack_policy: AckPolicy.None,
    mem_storage: true,
    num_replicas: 1,
    inactive_threshold: nanos(60_000),
  });
}

/** Deletes the shard's stream (a collection drop); a missing one is fine. */
export async function deleteShardStream(jsm: JetStreamManager, ref: ShardRef): Promise<void> {
  try {
    await jsm.streams.delete(streamName(ref));
  } catch (e) {
    if (!isNotFound(e)) throw unavailable(`deleting stream ${streamName(ref)}`, e);
  }
}

/**
 * The last sequence in the shard's stream (0 when empty), the first it still holds (the
 * stream has no limits, so 1 unless someone purged it) and its leader's name.
 */
export async function shardStreamState(
  jsm: JetStreamManager,
  ref: ShardRef,
): Promise<{ first: number; last: number; leader: string | undefined }> {
  try {
    const info = await jsm.streams.info(streamName(ref));
    return { first: info.state.first_seq, last: info.state.last_seq, leader: info.cluster?.leader };
  } catch (e) {
    throw unavailable(`reading stream ${streamName(ref)}`, e);
  }
}

/**
 * Publishes an operation message on the shard's subject and returns its stream sequence,
 * retrying with the same `msgId` while the stream has no leader (503, timeouts), up to
 * {@link PUBLISH_DEADLINE_MS}; then UNAVAILABLE. With `after`, the stream stores it only
 * if its last message is that sequence (a restore keeping its order); otherwise it fails
 * at once, UNAVAILABLE with NATS's "wrong last sequence" as the reason.
 */
export async function publishOp(
  js: JetStreamClient,
  ref: ShardRef,
  data: Uint8Array,
  msgId: string,
  after?: number,
): Promise<number> {
  const deadline = Date.now() + PUBLISH_DEADLINE_MS;
  let wait = 50;
  for (;;) {
    try {
      return await publishOnce(js, ref, data, msgId, after);
    } catch (e) {
      if (!retryable(e) || Date.now() + wait > deadline) {
        throw unavailable(`writing to ${streamName(ref)}`, e);
      }
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, 1_000);
    }
  }
}

/**
 * One publish attempt, no retry: the stream sequence once a quorum holds the message. With
 * `after`, stored only if the stream's last sequence is `after`. Many may be in flight on
 * one connection: the stream's leader takes them in the order they were sent.
 */
export async function publishOnce(
  js: JetStreamClient,
  ref: ShardRef,
  data: Uint8Array,
  msgId: string,
  after?: number,
  storedAtMs?: number,
): Promise<number> {
  const ack = await js.publish(shardSubject(ref), data, {
    msgID: msgId,
    timeout: 5_000,
    ...(after === undefined ? {} : { expect: { lastSequence: after } }),
    ...(storedAtMs === undefined ? {} : { headers: storedAtHeader(storedAtMs) }),
  });
  return ack.seq;
}

/**
 * The header a copied operation carries with the time it was first stored (a resharding
 * copies operations into new streams, whose own stored times are those of the copy).
 */
export const STORED_AT_HEADER = 'Quiver-Stored-At';

function storedAtHeader(ms: number): MsgHdrs {
  const h = headers();
  h.set(STORED_AT_HEADER, String(ms));
  return h;
}

/** When a message's operation was first stored: its header if copied, else the stream's time. */
export function storedAtMs(m: JsMsg): number {
  const copied = Number(m.headers?.get(STORED_AT_HEADER));
  return Number.isFinite(copied) && copied > 0 ? copied : m.info.timestampNanos / 1e6;
}

/** Errors that a retry cannot fix: the message or the connection is wrong, not the leader. */
function retryable(e: unknown): boolean {
  if (/wrong last sequence/i.test(String(e))) return false; // a conditional publish refused
  if (isSealed(e)) return false; // for good: the collection was resharded
  if (!(e instanceof NatsError)) return true;
  return ![
    'MAX_PAYLOAD_EXCEEDED',
    'BAD_SUBJECT',
    'PERMISSIONS_VIOLATION',
    'CONNECTION_CLOSED',
  ].includes(e.code);
}

/**
 * Seals the shard's stream: JetStream refuses every later publish to it (for good: a sealed
 * stream cannot be unsealed). A resharding seals the old streams before copying their tail.
 */
export async function sealShardStream(jsm: JetStreamManager, ref: ShardRef): Promise<void> {
  const name = streamName(ref);
  try {
    const info = await jsm.streams.info(name);
    if (info.config.sealed) return;
    // Only creation options are typed with `sealed`; the update API takes it (nats.js merges
    // the given fields into the stream's config).
    const seal: Partial<StreamConfig> = { sealed: true };
    await jsm.streams.update(name, seal);
  } catch (e) {
    throw unavailable(`sealing stream ${name}`, e);
  }
}

/**
 * True for a publish refused because the stream is sealed (nats-server: "invalid operation
 * on sealed stream", err_code 10109), also when wrapped by {@link unavailable}.
 */
export function isSealed(e: unknown): boolean {
  for (let c: unknown = e; c instanceof Error; c = c.cause) {
    if (/sealed stream/i.test(c.message)) return true;
  }
  return false;
}

function isNotFound(e: unknown): boolean {
  return e instanceof Error && /not found/i.test(e.message);
}

/** UNAVAILABLE for a cluster call that failed: what was attempted and NATS's reason. */
export function unavailable(what: string, e: unknown): QuiverError {
  const reason = e instanceof Error ? e.message : String(e);
  return new QuiverError(
    'UNAVAILABLE',
    `The cluster log failed ${what}: ${reason}. Check that the NATS servers are up (quiver cluster status); writes retry for ${PUBLISH_DEADLINE_MS / 1000} s across a leader election.`,
    {},
    e,
  );
}
