/**
 * KeyStore: the API keys of the server (SPEC section 6). Keys are stored hashed (salted
 * SHA-256; keys are random, so a slow hash adds nothing), compared in constant time, carry
 * a role and optionally a list of collections, and are revoked at once.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { invalidArgument } from '../../common/quiver-error.js';
import type { FileSystem } from '../../storage/io/file-system.js';
import { readText, writeFileAtomic } from '../../ops/ops-files.js';

/** Roles, each allowing what the previous ones do. */
export const ROLES = ['read', 'write', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** A key as stored: never the secret itself. */
export interface StoredKey {
  readonly id: string;
  /** `sha256:<salt hex>:<digest hex>` of salt + secret. */
  readonly hash: string;
  readonly role: Role;
  /** When set, the key works only on these collections. */
  readonly collections?: readonly string[];
  readonly created?: string;
  readonly revoked?: boolean;
}

/** A key as listed by the admin API. */
export type KeyInfo = Omit<StoredKey, 'hash'>;

const ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;

/** Hashes a secret for the keys file: `sha256:<salt>:<digest>`. */
export function hashApiKey(secret: string, salt: string = randomBytes(16).toString('hex')): string {
  const digest = createHash('sha256').update(salt).update(secret).digest('hex');
  return `sha256:${salt}:${digest}`;
}

function matches(stored: string, presented: string): boolean {
  const [algo, salt, hex] = stored.split(':');
  if (algo !== 'sha256' || salt === undefined || hex === undefined || hex.length !== 64) {
    return false;
  }
  const expected = Buffer.from(hex, 'hex');
  const actual = createHash('sha256').update(salt).update(presented).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

function checkKey(raw: unknown, where: string): StoredKey {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw invalidArgument(`${where} must be an object { id, hash, role, collections? }.`);
  }
  const k = raw as Record<string, unknown>;
  if (typeof k['id'] !== 'string' || !ID_RE.test(k['id'])) {
    throw invalidArgument(`${where}.id must be 1 to 64 characters from A-Z a-z 0-9 _ . -.`);
  }
  if (typeof k['hash'] !== 'string' || !/^sha256:[0-9a-f]+:[0-9a-f]{64}$/.test(k['hash'])) {
    throw invalidArgument(
      `${where}.hash must be "sha256:<salt hex>:<digest hex>" (never the key itself).`,
    );
  }
  if (!ROLES.includes(k['role'] as Role)) {
    throw invalidArgument(`${where}.role must be one of ${ROLES.join(', ')}.`);
  }
  const collections = k['collections'];
  if (
    collections !== undefined &&
    (!Array.isArray(collections) || collections.some((c) => typeof c !== 'string'))
  ) {
    throw invalidArgument(`${where}.collections must be a list of collection names.`);
  }
  return Object.freeze({
    id: k['id'],
    hash: k['hash'],
    role: k['role'] as Role,
    ...(collections === undefined
      ? {}
      : { collections: Object.freeze([...(collections as string[])]) }),
    ...(typeof k['created'] === 'string' ? { created: k['created'] } : {}),
    ...(k['revoked'] === true ? { revoked: true } : {}),
  });
}

function infoOf(k: StoredKey): KeyInfo {
  const info: { -readonly [P in keyof KeyInfo]: KeyInfo[P] } = { id: k.id, role: k.role };
  if (k.collections !== undefined) info.collections = k.collections;
  if (k.created !== undefined) info.created = k.created;
  if (k.revoked === true) info.revoked = true;
  return info;
}

/** The server's keys, optionally backed by a keys file that admin changes are saved to. */
export class KeyStore {
  private keys: StoredKey[];
  private readonly file: string | undefined;
  private readonly fs: FileSystem;
  private saving: Promise<void> = Promise.resolve();

  private constructor(fs: FileSystem, file: string | undefined, keys: StoredKey[]) {
    this.fs = fs;
    this.file = file;
    this.keys = keys;
  }

  /**
   * Loads the keys file (JSON or YAML: `{ keys: [{ id, hash, role, collections? }] }`; a
   * missing file is an empty store) and adds `apiKey`, given in clear, as admin key "env".
   */
  static async load(
    fs: FileSystem,
    file: string | undefined,
    apiKey: string | undefined,
  ): Promise<KeyStore> {
    const keys: StoredKey[] = [];
    if (file !== undefined && (await fs.exists(file))) {
      const parsed: unknown = parseYaml(await readText(fs, file));
      const list =
        parsed === null || parsed === undefined
          ? []
          : typeof parsed === 'object' && !Array.isArray(parsed)
            ? (parsed as Record<string, unknown>)['keys']
            : undefined;
      if (!Array.isArray(list)) {
        throw invalidArgument(`Keys file ${file} must hold { keys: [ … ] }.`, { file });
      }
      list.forEach((k, i) => keys.push(checkKey(k, `${file}: keys[${i}]`)));
    }
    if (apiKey !== undefined && apiKey !== '') {
      keys.push({ id: 'env', hash: hashApiKey(apiKey), role: 'admin' });
    }
    const ids = new Set<string>();
    for (const k of keys) {
      if (ids.has(k.id)) throw invalidArgument(`Duplicate key id "${k.id}" in ${file ?? 'keys'}.`);
      ids.add(k.id);
    }
    return new KeyStore(fs, file, keys);
  }

  /**
   * True once any key exists, revoked ones included: then every route but /health needs a
   * key. (Revoking the last key must lock the server, not open it.)
   */
  get enabled(): boolean {
    return this.keys.length > 0;
  }

  /**
   * The live key whose secret is `presented`, or undefined. Compares against every key
   * in constant time per key (no early exit on a match).
   */
  authenticate(presented: string): StoredKey | undefined {
    let found: StoredKey | undefined;
    for (const k of this.keys) {
      if (matches(k.hash, presented) && k.revoked !== true && found === undefined) found = k;
    }
    return found;
  }

  /** Every key without its hash. */
  list(): KeyInfo[] {
    return this.keys.map(infoOf);
  }

  /** Creates a key and returns its secret (shown once, stored only hashed). */
  async create(options: {
    role: Role;
    collections?: readonly string[];
    id?: string;
  }): Promise<{ id: string; key: string; info: KeyInfo }> {
    const id = options.id ?? `key-${randomBytes(6).toString('hex')}`;
    if (!ID_RE.test(id)) {
      throw invalidArgument('id must be 1 to 64 characters from A-Z a-z 0-9 _ . -.', {
        field: 'id',
      });
    }
    if (this.keys.some((k) => k.id === id)) {
      throw invalidArgument(`A key with id "${id}" already exists; pick another id.`, {
        field: 'id',
      });
    }
    const secret = `qv_${randomBytes(24).toString('base64url')}`;
    const stored: StoredKey = Object.freeze({
      id,
      hash: hashApiKey(secret),
      role: options.role,
      ...(options.collections === undefined
        ? {}
        : { collections: Object.freeze([...options.collections]) }),
      created: new Date().toISOString(),
    });
    this.keys = [...this.keys, stored];
    await this.save();
    return { id, key: secret, info: infoOf(stored) };
  }

  /** Revokes a key: the next request with it gets 401. False when no such live key. */
  async revoke(id: string): Promise<boolean> {
    const k = this.keys.find((x) => x.id === id && x.revoked !== true);
    if (k === undefined) return false;
    this.keys = this.keys.map((x) => (x === k ? Object.freeze({ ...x, revoked: true }) : x));
    await this.save();
    return true;
  }

  private save(): Promise<void> {
    const file = this.file;
    if (file === undefined) return Promise.resolve();
    const text = `${JSON.stringify({ keys: this.keys.filter((k) => k.id !== 'env') }, null, 2)}\n`;
    this.saving = this.saving
      .catch(() => undefined)
      .then(() => writeFileAtomic(this.fs, file, text));
    return this.saving;
  }
}
