/**
 * The NATS cluster helper itself: three real nodes form a JetStream cluster; an R3 stream
 * keeps every acknowledged message through a SIGKILL of its leader (publishes retried, with
 * a message id so a retry never stores twice, until a new leader is elected); the killed
 * node restarts healthy and catches up. Skipped where nats-server is not installed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, NatsError, type JetStreamClient } from 'nats';
import { needsNatsServer, startNatsCluster } from './nats-cluster.js';

const skip = needsNatsServer();
const encoder = new TextEncoder();

/**
 * Publishes `body` (also its message id) until acknowledged, retrying what an election
 * looks like to a client: no responders (503) and timeouts. Returns the stream sequence.
 */
async function publishUntilAcked(
  js: JetStreamClient,
  body: string,
  deadline: number,
): Promise<number> {
  for (;;) {
    try {
      const ack = await js.publish('t.x', encoder.encode(body), { msgID: body, timeout: 1_000 });
      return ack.seq;
    } catch (err) {
      const retryable = err instanceof NatsError && (err.code === '503' || err.code === 'TIMEOUT');
      if (!retryable || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

test(
  'a 3-node JetStream cluster keeps acknowledged messages through a leader SIGKILL',
  { skip, timeout: 60_000 },
  async (t) => {
    const cluster = await startNatsCluster(t);
    const nc = await connect({
      servers: [...cluster.urls],
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    try {
      const jsm = await nc.jetstreamManager();
      await jsm.streams.add({ name: 'T', subjects: ['t.>'], num_replicas: 3 });
      const js = nc.jetstream();
      const acked = new Map<number, string>(); // stream seq → body
      for (let i = 0; i < 100; i++) {
        acked.set(await publishUntilAcked(js, `m${i}`, Date.now() + 5_000), `m${i}`);
      }
      assert.equal((await jsm.streams.info('T')).state.messages, 100);

      const leader = await cluster.waitStreamLeader('T');
      const killedAt = Date.now();
      await cluster.kill(leader);
      // An election takes some seconds; every publish waits it out or fails the test.
      const deadline = killedAt + 20_000;
      for (let i = 100; i < 200; i++) {
        acked.set(await publishUntilAcked(js, `m${i}`, deadline), `m${i}`);
        if (i === 100) t.diagnostic(`first ack ${Date.now() - killedAt} ms after the kill`);
      }
      const next = await cluster.waitStreamLeader('T');
      assert.notEqual(next, leader);

      const info = await jsm.streams.info('T');
      assert.equal(info.state.messages, 200, 'each message stored once, none lost');
      assert.equal(acked.size, 200);
      for (const [seq, body] of acked) {
        assert.equal((await jsm.streams.getMessage('T', { seq })).string(), body, `seq ${seq}`);
      }

      await cluster.restart(leader);
      await cluster.waitCaughtUp(leader, 'T', info.state.last_seq);
      t.diagnostic(
        `killed node ${leader} back and caught up ${Date.now() - killedAt} ms after the kill`,
      );
    } finally {
      await nc.close();
    }
  },
);
