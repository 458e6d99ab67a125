/**
 * docs/API.md's curl examples run as written (issue 10 item 18): the sh blocks of the
 * Operations, Collections, Points and Search sections go, line by line and in order, through
 * bash and curl with `$Q` as the doc defines it, against a real `quiver serve` on 127.0.0.1.
 * Every answer must be a success, and a line piped into jq must print what its comment says.
 * (They once created a 384-d collection and then upserted 3-d vectors.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers/temp-dir.js';
import { spawnServe } from './server-helpers.js';

const ROOT = resolve(import.meta.dirname, '../..');
const SECTIONS = ['### Operations', '### Collections', '### Points', '### Search and query'];

const hasTool = (name: string): boolean =>
  spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).status === 0;

/** The example commands of one `### ` section: sh blocks, continuation lines joined. */
function sectionCommands(doc: string, heading: string): string[] {
  const start = doc.indexOf(`\n${heading}`);
  assert.ok(start >= 0, `API.md has no "${heading}" section`);
  const end = doc.indexOf('\n#', start + heading.length + 1);
  const body = doc.slice(start, end < 0 ? undefined : end);
  const out: string[] = [];
  for (const block of body.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of block[1]!.split('\n')) {
      if (line.trim() === '') continue;
      if (/^\s/.test(line) && out.length > 0) out[out.length - 1] += `\n${line}`;
      else out.push(line);
    }
  }
  return out;
}

test(
  "API.md's curl examples work as written against a real server",
  { skip: hasTool('curl') && hasTool('jq') ? false : 'needs curl and jq' },
  async (t) => {
    const doc = readFileSync(join(ROOT, 'docs/API.md'), 'utf8');
    const q = /`Q='([^']+)'`/.exec(doc)?.[1];
    assert.ok(q !== undefined, "API.md defines $Q as `Q='…'`");
    const dir = tempDir(t, 'quiver-api-doc-');
    const server = await spawnServe(t, ['--data', join(dir, 'data')]);
    const Q = q.replace('localhost:6333', `127.0.0.1:${server.port}`);
    const commands = SECTIONS.flatMap((s) => sectionCommands(doc, s));
    assert.ok(commands.length >= 12, `examples found: ${commands.length}`);
    for (const command of commands) {
      const r = spawnSync('bash', ['-c', `set -o pipefail; ${command}`], {
        encoding: 'utf8',
        env: { ...process.env, Q },
      });
      const where = `${command}\n→ ${r.stdout}${r.stderr}`;
      assert.equal(r.status, 0, where);
      assert.doesNotMatch(r.stdout, /"status":\s*\{\s*"error"|"error":/, where);
      const said = /\|\s*jq\b.*#\s*(\{.*\})\s*$/.exec(command)?.[1];
      if (said !== undefined) assert.deepEqual(JSON.parse(r.stdout), JSON.parse(said), where);
    }
  },
);
