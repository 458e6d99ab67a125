// Entry of the AssemblyScript module compiled to quiver-simd.wasm / quiver-scalar.wasm:
// re-exports the distance kernels and the HNSW core. Loaded by src/kernels/wasm-module.ts.
export { dotF32, l2sqF32, dotI8, l2sqI8, hammingBits, planeDot, scanScores } from './distance';
export {
  heapBase,
  setParams,
  setRegions,
  setEntry,
  getEntry,
  getMaxLevel,
  lastVisited,
  lastDistances,
  search,
  searchCodes,
  setCodes,
  encodeSlots,
  encodeRowAt,
  pqAssign,
  scanExact,
  insert,
  repair,
} from './hnsw';

/** Bumped with any change of the exports' signatures; the loader refuses other values. */
export function abiVersion(): i32 {
  return 5;
}
