/**
 * Build step for the WebAssembly kernels (run by `npm run build` before tsc): compiles
 * src/kernels/as/quiver.ts with AssemblyScript three times (f32x4 SIMD, scalar, and SIMD
 * over an imported shared memory that search worker threads instantiate too) into
 * build/wasm/ (found by tests running from src/) and dist/kernels/ (the built package).
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The slice of the AssemblyScript compiler API this script uses. */
interface AscApi {
  main(
    argv: string[],
    options: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
  ): Promise<{ error: Error | null }>;
}
// Imported by a computed name so that the compiler's global type declarations (which
// redefine `console` for AssemblyScript sources) stay out of this program's types.
const ascModule = 'assemblyscript/asc';
const asc = ((await import(ascModule)) as { default: AscApi }).default;

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'src', 'kernels', 'as', 'quiver.ts');
const outDirs = [join(root, 'build', 'wasm'), join(root, 'dist', 'kernels')];

const variants: ReadonlyArray<{ file: string; flags: string[] }> = [
  { file: 'quiver-simd.wasm', flags: ['--enable', 'simd'] },
  { file: 'quiver-scalar.wasm', flags: [] },
  {
    file: 'quiver-simd-shared.wasm',
    flags: [
      '--enable',
      'simd',
      '--enable',
      'threads',
      '--importMemory',
      '--sharedMemory',
      '--initialMemory',
      '1',
      '--maximumMemory',
      '65536',
    ],
  },
];

for (const dir of outDirs) mkdirSync(dir, { recursive: true });
for (const { file, flags } of variants) {
  const out = join(outDirs[0]!, file);
  const { error } = await asc.main(
    [
      entry,
      '--outFile',
      out,
      '--runtime',
      'stub',
      '--optimizeLevel',
      '3',
      '--shrinkLevel',
      '0',
      '--noAssert',
      '--use',
      'abort=',
      ...flags,
    ],
    { stdout: process.stdout, stderr: process.stderr },
  );
  if (error) throw error;
  for (const dir of outDirs.slice(1)) copyFileSync(out, join(dir, file));
  process.stdout.write(`built ${file}\n`);
}
