/**
 * Whether the NATS servers' copies of a shard stream hold the same messages. JetStream's
 * replicas should agree by Raft, yet nats-server has been seen to split under a partition:
 * here 2.9.10, after a process pause cut a stream's leader off, kept a refused write at
 * the sequence where other copies kept the acknowledged one (about one run in four with the
 * leader on the cut-off side); Jepsen found the same in 2.12 (nats-io/nats-server#7567). A
 * node whose consumer reads the odd copy then holds other points than its peers, and
 * nothing else says so.
 *
 * The check reads the stream's last messages with direct gets, which any replica may
 * answer (measured: a connection to one server gets answers from all three copies), so
 * each message is asked for many times over connections to every server: two different
 * answers for one sequence mean the copies differ. Which server holds which cannot be told
 * from a client; what can is which points the differing messages touch, and writing those
 * points again makes every node hold the same (RUNBOOK.md).
 */
import { createHash } from 'node:crypto';
import type { NatsConnection } from 'nats';
import { connect } from 'nats';
import type { PointId } from '../common/types.js';
import { decodeOpMessage } from './shard-log.js';
import { idsOf } from './shard-routing.js';

/** Messages compared at the end of each stream by default: a split shows at its end. */
export const AGREEMENT_WINDOW = 16;
/** How long one stream's comparison may take before it stops where it is. */
export const COMPARE_BUDGET_MS = 10_000;
/**
 * Answers collected per message. With three copies answering at random, an odd copy goes
 * unseen in 24 answers with probability (2/3)^24, about 6 in a million.
 */
const SAMPLES = 24;

/** One of the different messages found at a sequence. */
export interface CopyVersion {
  /** Its message id and a digest of its bytes. */
  readonly message: string;
  /** How many of the answers were this one. */
  readonly answers: number;
  /** The points its operation writes or deletes (empty when it is not an operation). */
  readonly points: readonly PointId[];
}

export interface ReplicaAgreement {
  /** The sequences compared (`to` < `from` when none was). */
  readonly from: number;
  readonly to: number;
  /** The servers asked. */
  readonly servers: readonly string[];
  /** The first sequence the copies hold differently, and the messages found there. */
  readonly diverged?: { readonly seq: number; readonly versions: readonly CopyVersion[] };
}

/** The points a split touches: those of every message found at its sequence, once each. */
export function splitPoints(diverged: NonNullable<ReplicaAgreement['diverged']>): PointId[] {
  return [...new Set(diverged.versions.flatMap((v) => v.points))];
}

/**
 * One connection per NATS server, found from the given URLs and the cluster's advertised
 * client URLs, for asking every server; one that does not answer is left out.
 */
export class ServerCopies {
  private constructor(private readonly conns: ReadonlyMap<string, NatsConnection>) {}

  static async open(urls: readonly string[]): Promise<ServerCopies> {
    const conns = new Map<string, NatsConnection>();
    const tried = new Set<string>();
    const queue = [...urls];
    for (let url = queue.shift(); url !== undefined; url = queue.shift()) {
      if (tried.has(url)) continue;
      tried.add(url);
      const nc = await connect({
        servers: url,
        noRandomize: true,
        reconnect: false,
        timeout: 3_000,
      }).catch(() => undefined);
      const name = nc?.info?.server_name;
      if (nc === undefined || name === undefined || conns.has(name)) {
        await nc?.close();
        continue;
      }
      conns.set(name, nc);
      queue.push(...(nc.info?.connect_urls ?? []).map((u) => `nats://${u}`));
    }
    return new ServerCopies(conns);
  }

  /** The servers connected to, by name. */
  get servers(): string[] {
    return [...this.conns.keys()];
  }

  /**
   * Compares the last `window` messages up to `lastSeq` of `stream` across its copies: two
   * different messages at one sequence are a split. It stops early, with `to` at the last
   * sequence compared, at a message some copy did not give (one behind, or a server not
   * answering), after {@link COMPARE_BUDGET_MS} (a paused server makes every request to it
   * wait out its timeout), and when `stop` says so.
   */
  async compare(
    stream: string,
    lastSeq: number,
    window = AGREEMENT_WINDOW,
    stop: () => boolean = () => false,
  ): Promise<ReplicaAgreement> {
    const from = Math.max(1, lastSeq - window + 1);
    const servers = this.servers;
    const conns = [...this.conns.values()];
    const end = Date.now() + COMPARE_BUDGET_MS;
    for (let seq = from; seq <= lastSeq; seq++) {
      if (conns.length === 0 || stop() || Date.now() > end) return { from, to: seq - 1, servers };
      const found = new Map<string, { answers: number; data: Uint8Array }>();
      const ask = new TextEncoder().encode(JSON.stringify({ seq }));
      let unanswered = 0;
      for (let i = 0; i < SAMPLES; i++) {
        const got = await messageAt(conns[i % conns.length]!, stream, seq, ask);
        if (got === undefined) {
          unanswered++;
          continue;
        }
        const seen = found.get(got.message);
        found.set(got.message, { answers: (seen?.answers ?? 0) + 1, data: got.data });
      }
      if (found.size > 1) {
        const versions = [...found].map(([message, v]) => ({
          message,
          answers: v.answers,
          points: pointsOf(v.data, stream, seq),
        }));
        return { from, to: seq, servers, diverged: { seq, versions } };
      }
      // A copy that does not hold it yet may hold another one once it does: not compared.
      if (unanswered > 0) return { from, to: seq - 1, servers };
    }
    return { from, to: lastSeq, servers };
  }

  async close(): Promise<void> {
    await Promise.all([...this.conns.values()].map((nc) => nc.close()));
  }
}

/**
 * Message `seq` (`ask` is its request body) as some copy holds it, named by its message id and a digest of its bytes
 * (two publishes can carry equal bytes; the id tells them apart). Undefined when the copy
 * that answered does not hold it (yet) or none answers. A plain request on JetStream's
 * direct-get subject: the nats client's typed JetStreamManager does not expose direct gets.
 */
async function messageAt(
  nc: NatsConnection,
  stream: string,
  seq: number,
  ask: Uint8Array,
): Promise<{ message: string; data: Uint8Array } | undefined> {
  const m = await nc
    .request(`$JS.API.DIRECT.GET.${stream}`, ask, { timeout: 1_000 })
    .catch(() => undefined);
  const h = m?.headers;
  if (m === undefined || h === undefined || h.hasError || Number(h.get('Nats-Sequence')) !== seq) {
    return undefined;
  }
  const digest = createHash('sha256').update(m.data).digest('hex').slice(0, 12);
  return { message: `${h.get('Nats-Msg-Id') || '(no id)'} ${digest}`, data: m.data };
}

function pointsOf(data: Uint8Array, stream: string, seq: number): readonly PointId[] {
  try {
    return idsOf(decodeOpMessage(data, stream, seq));
  } catch {
    return [];
  }
}
