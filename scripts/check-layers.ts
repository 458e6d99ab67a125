/**
 * Fails when an import in src/ goes against SPEC section 8's direction
 * (common ← kernels ← ann ← filter ← storage ← engine ← ops ← sync ← cluster ← server, cli), when a
 * Node I/O module or third-party dependency is used outside the one layer that owns it,
 * or when the relative imports of src/, bench/ or scripts/ form a cycle.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const SRC = join(ROOT, 'src');
const RANK: Record<string, number> = {
  common: 0,
  kernels: 1,
  ann: 2,
  filter: 3,
  storage: 4,
  engine: 5,
  ops: 6,
  // Document sync (src/sync/) drives the engine from a folder of files; the CLI and the
  // server start it.
  sync: 6.2,
  // Cluster mode (SPEC §10) sits on the engine and is used by the server and the CLI.
  cluster: 6.5,
  server: 7,
  cli: 7,
};
/** Modules that only one place may import: module → allowed path prefixes under src/. */
const OWNERS: Record<string, string[]> = {
  'node:fs': ['storage/io/'],
  'node:fs/promises': ['storage/io/'],
  fs: ['storage/io/'],
  'fs/promises': ['storage/io/'],
  fastify: ['server/'],
  'prom-client': ['server/'],
  commander: ['cli/'],
  'cli-progress': ['cli/'],
  pino: ['server/', 'cli/'],
  nats: ['cluster/'],
};
/**
 * Single files allowed one owned module, with the reason. The kernel loader reads its own
 * build artefact (the .wasm next to it), not database files, so it is not storage I/O.
 */
const FILE_EXEMPT: Record<string, string[]> = {
  'kernels/wasm-module.ts': ['node:fs', 'node:fs/promises'],
};
/** Test files may also use node:fs directly (to flip bytes, make temp dirs). */
const TEST_EXEMPT = new Set(['node:fs', 'node:fs/promises', 'fs', 'fs/promises']);

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name === 'as') continue; // AssemblyScript sources compile to WebAssembly, not imported
      out.push(...walk(p));
    } else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

function layerOf(rel: string): string | undefined {
  const top = rel.split('/')[0];
  return top !== undefined && top in RANK ? top : undefined;
}

const IMPORT_RE =
  /(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm;
const problems: string[] = [];

for (const file of walk(SRC)) {
  const rel = relative(SRC, file).split(sep).join('/');
  const layer = layerOf(rel);
  const isTest = rel.endsWith('.test.ts');
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(IMPORT_RE)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (spec === undefined) continue;
    if (spec.startsWith('.')) {
      const target = relative(SRC, resolve(dirname(file), spec))
        .split(sep)
        .join('/');
      if (target.startsWith('..')) {
        if (!isTest) problems.push(`${rel}: imports ${spec} from outside src/`);
        continue;
      }
      const targetLayer = layerOf(target);
      if (layer === undefined) continue; // src/index.ts: the public entry may re-export anything
      if (targetLayer === undefined) {
        problems.push(`${rel}: imports the public entry ${spec}; import the module directly`);
        continue;
      }
      const allowed =
        RANK[targetLayer]! < RANK[layer]! ||
        targetLayer === layer ||
        (layer === 'cli' && targetLayer === 'server');
      if (!allowed) {
        problems.push(`${rel}: ${layer} must not import ${targetLayer} (${spec})`);
      }
      continue;
    }
    const owners = OWNERS[spec];
    if (owners !== undefined && !owners.some((p) => rel.startsWith(p))) {
      if (isTest && TEST_EXEMPT.has(spec)) continue;
      if (FILE_EXEMPT[rel]?.includes(spec) === true) continue;
      problems.push(`${rel}: ${spec} may only be imported under ${owners.join(' or ')}`);
    }
  }
}

/** The .ts file a relative import names (`./x.js` is `./x.ts`), if it is one of ours. */
function resolveImport(from: string, spec: string): string | undefined {
  const base = resolve(dirname(from), spec);
  const candidates = [base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts')];
  return candidates.find((c) => c.endsWith('.ts') && existsSync(c) && statSync(c).isFile());
}

/**
 * Every relative import, `import type` included: a type-only cycle costs nothing at run
 * time, but the two files still cannot be understood or moved one without the other.
 */
function importGraph(files: readonly string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const targets: string[] = [];
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT_RE)) {
      const spec = m[1] ?? m[2] ?? m[3];
      if (spec === undefined || !spec.startsWith('.')) continue;
      const target = resolveImport(file, spec);
      if (target !== undefined) targets.push(target);
    }
    graph.set(file, targets);
  }
  return graph;
}

/**
 * The import cycles a depth-first search meets (each back edge closes one, given as the path
 * of files): none exactly when the graph has no cycle.
 */
function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles: string[][] = [];
  const done = new Set<string>();
  const onPath: string[] = [];
  const visit = (file: string): void => {
    const at = onPath.indexOf(file);
    if (at !== -1) {
      cycles.push([...onPath.slice(at), file]);
      return;
    }
    if (done.has(file)) return;
    onPath.push(file);
    for (const next of graph.get(file) ?? []) visit(next);
    onPath.pop();
    done.add(file);
  };
  for (const file of [...graph.keys()].sort()) visit(file);
  return cycles;
}

const CYCLE_ROOTS = ['src', 'bench', 'scripts'].map((d) => join(ROOT, d));
for (const cycle of findCycles(importGraph(CYCLE_ROOTS.flatMap((d) => walk(d))))) {
  const names = cycle.map((f) => relative(ROOT, f).split(sep).join('/'));
  problems.push(`import cycle: ${names.join(' → ')}`);
}

if (problems.length > 0) {
  console.error(`check-layers: ${problems.length} import(s) against the layer rules:`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log('check-layers: all imports follow SPEC section 8, and none form a cycle');
