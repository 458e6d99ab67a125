/**
 * The NATS side of cluster reads: a node asks another for its part of a read by
 * request-reply on `quiver.reads.<node>` and answers the parts others ask of it on its own
 * subject, at most {@link MAX_SERVING} at once. A getMany answer too large for one message
 * comes in parts (shard-read.ts `encodeAnswer`), asked for again until complete. What a
 * part means and how it is answered is the node's (cluster-node.ts `serveRead`).
 */
import type { Msg, NatsConnection, Subscription } from 'nats';
import { QuiverError } from '../common/quiver-error.js';
import type { PointRecord } from '../engine/collection.js';
import type { ShardReadAnswer, ShardReadRequest, WireAnswer } from './shard-read.js';
import { encodeAnswer, errorOfWire, wireError } from './shard-read.js';

/** What a node name may be: it becomes a NATS subject token and a key in the registry. */
export const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;
/**
 * Parts of other nodes' reads answered at once; more are refused as UNAVAILABLE (the asker
 * tries another replica). Each holds a search's work and its answer in memory, so the
 * bound is what a node may hold for others.
 */
export const MAX_SERVING = 64;
const encode = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));
const decode = <T>(data: Uint8Array): T => JSON.parse(new TextDecoder().decode(data)) as T;

export class ReadTransport {
  private sub: Subscription | undefined;
  private serving = 0;
  private refused = 0;
  /** How long an asking node waits for an answer: the serving side's wait, and some. */
  private readonly requestMs: number;

  constructor(
    private readonly nc: NatsConnection,
    private readonly self: string,
    serveWaitMs: number,
    private readonly serve: (req: ShardReadRequest) => Promise<ShardReadAnswer>,
  ) {
    this.requestMs = serveWaitMs + 5_000;
  }

  /** Starts answering other nodes' parts of reads. */
  start(): void {
    const sub = this.nc.subscribe(`quiver.reads.${this.self}`);
    this.sub = sub;
    void (async () => {
      for await (const m of sub) void this.answer(m);
    })();
  }

  /** Stops answering (parts being answered finish first). */
  async stop(): Promise<void> {
    await this.sub?.drain().catch(() => undefined);
  }

  /** Parts being answered now, and those turned away since the start. */
  counts(): { readonly serving: number; readonly refused: number } {
    return { serving: this.serving, refused: this.refused };
  }

  /** Asks `node` (another node) for its part of a read. */
  async ask(node: string, req: ShardReadRequest): Promise<ShardReadAnswer> {
    if (!NODE_ID.test(node)) {
      throw new QuiverError('UNAVAILABLE', `Not a node name: ${JSON.stringify(node)}.`, {});
    }
    let answer = await this.askOnce(node, req);
    if (answer.rest === undefined) return answer.result;
    // A getMany too large for one message comes in parts: ask again for the rest.
    const records = [...(answer.result as PointRecord[])];
    let left = req.op === 'getMany' ? req.ids.length : 0;
    while (answer.rest !== undefined && answer.rest.length > 0) {
      if (answer.rest.length >= left) {
        throw new QuiverError('INTERNAL', `Node ${node} answered a getMany without progress.`, {});
      }
      left = answer.rest.length;
      answer = await this.askOnce(node, { ...req, ids: answer.rest } as ShardReadRequest);
      records.push(...(answer.result as PointRecord[]));
    }
    return records;
  }

  private async askOnce(
    node: string,
    req: ShardReadRequest,
  ): Promise<WireAnswer & { readonly ok: true }> {
    let reply: Msg;
    try {
      reply = await this.nc.request(`quiver.reads.${node}`, encode(req), {
        timeout: this.requestMs,
      });
    } catch (e) {
      throw new QuiverError(
        'UNAVAILABLE',
        `Node ${node} did not answer its part of a read of "${req.collection}" (${e instanceof Error ? e.message : String(e)}).`,
        { collection: req.collection },
      );
    }
    const answer = decode<WireAnswer>(reply.data);
    if (!answer.ok) throw errorOfWire(node, answer);
    return answer;
  }

  private async answer(m: Msg): Promise<void> {
    let answer: Uint8Array;
    this.serving++;
    try {
      // Bounded: parts beyond the limit are turned away at once (the asking node tries
      // another replica, or its client gets 503 and retries) rather than queue without end.
      if (this.serving > MAX_SERVING) throw this.busy();
      const req = decode<ShardReadRequest>(m.data);
      const max = this.nc.info?.max_payload ?? 1024 * 1024;
      answer = encodeAnswer(req, await this.serve(req), max);
    } catch (e) {
      answer = encode(wireError(e));
    } finally {
      this.serving--;
    }
    try {
      m.respond(answer);
    } catch {
      // The asking node is gone; nothing to answer.
    }
  }

  private busy(): QuiverError {
    this.refused++;
    return new QuiverError(
      'UNAVAILABLE',
      `Node ${this.self} is answering ${MAX_SERVING} parts of reads already; ask another replica or retry.`,
      {},
    );
  }
}
