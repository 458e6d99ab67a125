// AssemblyScript HNSW core (Malkov & Yashunin): insert with the neighbour-selection heuristic,
// beam search with an epoch-reset visited set, filtered/tombstone-aware search, tombstone repair.
// One instance per index: state lives in this instance's globals; TypeScript owns the layout.

import { dotF32, dotI8, hammingBits, l2sqF32, l2sqI8, planeDot } from './distance';

/** JS filter callback for search mode 3 (the `filter` option): 1 admits the internal id. */
declare function admit(id: i32): i32;

// Node flags (one byte per slot), mirrored in src/ann/hnsw/hnsw-memory.ts.
const F_PRESENT: u8 = 1;
const F_DELETED: u8 = 2;
const F_ALLOCATED: u8 = 4;
// A vector stored at its slot but not linked into the graph yet: no graph search reaches it
// (nothing links to it), only scanExact asked for staged slots scores it.
const F_STAGED: u8 = 8;
const EXPANDED: i32 = 0x80000000;

let dim: i32 = 0;
let vecBytes: usize = 0;
let metricIp: bool = false;
let mUpper: i32 = 16;
let m0: i32 = 32;
let stride0: usize = 0;
let strideU: usize = 0;
let cap: i32 = 0;

let pVecs: usize = 0;
let pLinks0: usize = 0;
let pLevels: usize = 0;
let pFlags: usize = 0;
let pUpperOff: usize = 0;
let pUpper: usize = 0;
let pVisited: usize = 0;
let pAllow: usize = 0;
let pPool: usize = 0;
let pSel: usize = 0;
let pHeap: usize = 0;
let heapCap: i32 = 0;
let pQuery: usize = 0;
let pOut: usize = 0;

let epoch: u32 = 0;
let entry: i32 = -1;
let maxLevel: i32 = -1;
let statVisited: i32 = 0;
let statDist: i32 = 0;

// Scalar quantization (src/ann/scalar-quantizer.ts). The codes region starts with the
// offsets (f32 per dimension, 16-aligned), then one row per slot: codeLen int8 codes
// (zero padded to 16) and a 16-byte tail whose first f32 is the slot's bias,
// s·Σ offset[d]·code[d]. code = clamp(round((x - offset[d]) / s), -127, 127). While
// useCodes is set (only inside searchCodes) vec() and dist() read codes, not floats.
let pQOffsets: usize = 0;
let pCodes: usize = 0;
let codeStride: usize = 0;
let codeLen: usize = 0;
let pQCode: usize = 0;
let qInvScale: f32 = 1;
let qScale: f32 = 1;
let qScale2: f32 = 1;
// The query's own term of an inner product, Σ q[d]·offset[d] (searchCodes sets it).
let qBias: f32 = 0;
let useCodes: bool = false;

// Binary quantization (src/ann/binary-quantizer.ts), when codeBits is set. The header holds
// three per-dimension f32 arrays, each 16-aligned: offsets o, thresholds t and magnitudes m.
// A row holds `planes` bit planes of bitLen bytes (bit d of plane A: x - o > -t, or > 0 with
// one plane; of plane B: x - o > t), then a 16-byte tail: f32 ‖x - o‖² (L2) or o·(x - o)
// (inner products), i32 popcount of each plane, f32 λ. Symmetric search compares the
// query's planes by Hamming distance. With queryBits (4 or 8) the query is coded
// asymmetrically: w[d] = m[d]·(q[d] - o[d]) as unsigned queryBits-bit integers (e + half),
// one bit plane per bit, and λ·Σ_d w[d]·Σ_planes (2·bit[d] - 1) estimates (q - o)·(x - o)
// (see planeDot): x - o is read as λ·m⊙signs, λ the row's least-squares fit. The query is
// centred for inner products too, q·x = (q - o)·(x - o) + o·(x - o) + q·o: a dimension
// whose values all sit near one level would otherwise take the whole integer range.
// planes 3 is one and a half bits: plane A as with two, and a plane B of bitLenB bytes
// whose bit d/2 is the OR of plane B's bits of dimensions d and d + 1 (symmetric only).
let codeBits: bool = false;
let planes: i32 = 1;
let bitLenB: usize = 0;
let queryBits: i32 = 0;
let bitLen: usize = 0;
let pQThresh: usize = 0;
let pQMag: usize = 0;
// Per search: the query's step (value of one integer unit) and Σ e[d].
let qStep: f32 = 1;
let qSum: i32 = 0;

// Product quantization (src/ann/product-quantizer.ts), when codeProduct is set. The header
// holds the codebooks: for each of pqM subspaces of pqSub dimensions (the last one may be
// shorter: its centroids are zero past the end), 256 centroids of pqSub f32, transposed
// (value 0 of the 256 centroids, then value 1, ...). A row is pqM
// centroid numbers (u8), zero padded to 16. A search first fills a table at pQCode, pqM ×
// 256 f32: the query's subvector against each centroid (squared L2, or minus the dot
// product); a row's distance is then the sum of the pqM entries it names.
let codeProduct: bool = false;
let pqSub: i32 = 0;
let pqM: i32 = 0;

// Results of greedy(): the closest node found and its distance.
let gCur: i32 = 0;
let gCurD: f32 = 0;

/** Start of memory free for the TypeScript layout. */
export function heapBase(): usize {
  return __heap_base;
}

/** Sets the graph parameters. metric: 0 = squared L2, 1 = inner product. */
export function setParams(d: i32, metric: i32, m: i32, mBase: i32): void {
  dim = d;
  vecBytes = (<usize>d) << 2;
  metricIp = metric == 1;
  mUpper = m;
  m0 = mBase;
  stride0 = (<usize>(1 + mBase)) << 2;
  strideU = (<usize>(1 + m)) << 2;
}

/** Points the core at the regions TypeScript laid out (byte offsets into this memory). */
export function setRegions(
  capacity: i32,
  vecs: usize,
  links0: usize,
  levels: usize,
  flags: usize,
  upperOff: usize,
  upper: usize,
  visited: usize,
  allow: usize,
  pool: usize,
  sel: usize,
  heap: usize,
  heapCapacity: i32,
  query: usize,
  out: usize,
): void {
  cap = capacity;
  pVecs = vecs;
  pLinks0 = links0;
  pLevels = levels;
  pFlags = flags;
  pUpperOff = upperOff;
  pUpper = upper;
  pVisited = visited;
  pAllow = allow;
  pPool = pool;
  pSel = sel;
  pHeap = heap;
  heapCap = heapCapacity;
  pQuery = query;
  pOut = out;
  // The visited region was re-laid out: start a fresh epoch cycle.
  memory.fill(pVisited, 0, (<usize>cap) << 1);
  epoch = 0;
}

export function setEntry(e: i32, level: i32): void {
  entry = e;
  maxLevel = level;
}
export function getEntry(): i32 {
  return entry;
}
export function getMaxLevel(): i32 {
  return maxLevel;
}
export function lastVisited(): i32 {
  return statVisited;
}
export function lastDistances(): i32 {
  return statDist;
}

/**
 * Points the core at a codes region (its header, then rows of `stride` bytes), the
 * quantizer's scale, and the scratch for an encoded query (one row, or a product table).
 * kind 0: int8; 1: binary, with bitPlanes planes and qBits query bits; 2: product, with
 * bitPlanes dimensions per subspace.
 */
export function setCodes(
  region: usize,
  stride: i32,
  scale: f32,
  qcode: usize,
  kind: i32,
  bitPlanes: i32,
  qBits: i32,
): void {
  const header = (vecBytes + 15) & ~15;
  pQOffsets = region;
  codeBits = kind == 1;
  codeProduct = kind == 2;
  if (codeProduct) {
    pqSub = bitPlanes;
    pqM = (dim + bitPlanes - 1) / bitPlanes;
    codeLen = (<usize>pqM + 15) & ~15;
    pCodes = region + ((((<usize>pqM) << 8) * ((<usize>pqSub) << 2) + 15) & ~15);
    codeStride = <usize>stride;
    pQCode = qcode;
    planes = 1;
    queryBits = 0;
    return;
  }
  planes = bitPlanes;
  queryBits = qBits;
  bitLen = (((<usize>dim + 7) >> 3) + 15) & ~15;
  bitLenB = planes == 3 ? (((((<usize>dim + 1) >> 1) + 7) >> 3) + 15) & ~15 : 0;
  pQThresh = region + header;
  pQMag = region + header * 2;
  codeLen = codeBits
    ? planes == 3
      ? bitLen + bitLenB
      : bitLen * <usize>planes
    : (<usize>dim + 15) & ~15;
  pCodes = region + (codeBits ? header * 3 : header);
  codeStride = <usize>stride;
  qScale = scale;
  qInvScale = scale > 0 ? 1 / scale : 1;
  qScale2 = scale * scale;
  pQCode = qcode;
}

function vec(id: i32): usize {
  if (useCodes) return pCodes + <usize>id * codeStride;
  return pVecs + <usize>id * vecBytes;
}

function dist(a: usize, b: usize): f32 {
  if (useCodes) {
    if (codeProduct) return productDist(a, b);
    if (codeBits) return bitDist(a, b);
    // a is the query's codes, b a slot's row (scale-invariant forms, see the header).
    const n = <i32>codeLen;
    if (!metricIp) return <f32>l2sqI8(a, b, n) * qScale2;
    return -(qBias + load<f32>(b + codeLen) + <f32>dotI8(a, b, n) * qScale2);
  }
  return metricIp ? -dotF32(a, b, dim) : l2sqF32(a, b, dim);
}

/** The code of value x in a dimension centred on o, as a float in [-127, 127] (NaN → 0). */
function codeOf(x: f32, o: f32): f32 {
  const c = nearest<f32>((x - o) * qInvScale);
  if (c > 127) return 127;
  if (c < -127) return -127;
  return c != c ? 0 : c;
}

/** Encodes the dim floats at src as a row at dst: codes (zero padded), then the bias. */
function encodeInto(src: usize, dst: usize): void {
  let bias: f32 = 0;
  for (let i: i32 = 0; i < dim; i++) {
    const o = load<f32>(pQOffsets + ((<usize>i) << 2));
    const c = codeOf(load<f32>(src + ((<usize>i) << 2)), o);
    store<i8>(dst + <usize>i, <i8>(<i32>c));
    bias += o * c;
  }
  memory.fill(dst + <usize>dim, 0, codeLen - <usize>dim);
  store<f32>(dst + codeLen, bias * qScale);
}

/** Four values at v, centred on the offsets at o and scaled, as i32 codes (NaN → 0). */
function codes4(v: usize, o: usize, inv: v128): v128 {
  const x = f32x4.nearest(f32x4.mul(f32x4.sub(v128.load(v), v128.load(o)), inv));
  // max/min keep a NaN, which trunc_sat then turns into 0, as encodeInto does.
  const c = f32x4.min(f32x4.max(x, f32x4.splat(-127)), f32x4.splat(127));
  return i32x4.trunc_sat_f32x4_s(c);
}

/**
 * Encodes the query at pQuery into pQCode (the same codes as encodeInto, 16 at a time with
 * SIMD) and sets qBias = Σ q[d]·offset[d]: a search pays this once, so it runs vectorised.
 */
function encodeQuery(): void {
  let i: i32 = 0;
  let b: f32 = 0;
  if (ASC_FEATURE_SIMD) {
    const inv = f32x4.splat(qInvScale);
    let acc = f32x4.splat(0);
    const end16 = dim & ~15;
    for (; i < end16; i += 16) {
      const q = pQuery + ((<usize>i) << 2);
      const o = pQOffsets + ((<usize>i) << 2);
      const c0 = codes4(q, o, inv);
      const c1 = codes4(q + 16, o + 16, inv);
      const c2 = codes4(q + 32, o + 32, inv);
      const c3 = codes4(q + 48, o + 48, inv);
      const lo = i16x8.narrow_i32x4_s(c0, c1);
      const hi = i16x8.narrow_i32x4_s(c2, c3);
      v128.store(pQCode + <usize>i, i8x16.narrow_i16x8_s(lo, hi));
      acc = f32x4.add(acc, f32x4.mul(v128.load(q), v128.load(o)));
      acc = f32x4.add(acc, f32x4.mul(v128.load(q, 16), v128.load(o, 16)));
      acc = f32x4.add(acc, f32x4.mul(v128.load(q, 32), v128.load(o, 32)));
      acc = f32x4.add(acc, f32x4.mul(v128.load(q, 48), v128.load(o, 48)));
    }
    b =
      f32x4.extract_lane(acc, 0) +
      f32x4.extract_lane(acc, 1) +
      (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
  }
  for (; i < dim; i++) {
    const o = load<f32>(pQOffsets + ((<usize>i) << 2));
    const x = load<f32>(pQuery + ((<usize>i) << 2));
    store<i8>(pQCode + <usize>i, <i8>(<i32>codeOf(x, o)));
    b += x * o;
  }
  memory.fill(pQCode + <usize>dim, 0, codeLen - <usize>dim);
  qBias = b;
}

/**
 * Encodes the dim floats at src into slot id's codes: for an index whose vectors are not
 * in its memory (on disk), each read into a scratch first.
 */
export function encodeRowAt(src: usize, id: i32): void {
  const dst = pCodes + <usize>id * codeStride;
  if (codeProduct) encodeProductInto(src, dst);
  else if (codeBits) encodeBitsInto(src, dst);
  else encodeInto(src, dst);
}

/** Encodes the float vectors of slots [from, to) into their codes. */
export function encodeSlots(from: i32, to: i32): void {
  for (let id = from; id < to; id++) {
    const src = pVecs + <usize>id * vecBytes;
    const dst = pCodes + <usize>id * codeStride;
    if (codeProduct) encodeProductInto(src, dst);
    else if (codeBits) encodeBitsInto(src, dst);
    else encodeInto(src, dst);
  }
}

/** Floats of subspace m that are in the vector (pqSub, or fewer in the last one). */
function subWidth(m: i32): i32 {
  const left = dim - m * pqSub;
  return left < pqSub ? left : pqSub;
}

/**
 * Writes the 256 scores of the subvector of subspace m at x (its first value) against the
 * subspace's centroids to out: squared L2, or with ip minus the dot product. The header
 * holds each subspace's centroids transposed (value i of the 256 centroids, then value
 * i + 1: codeParams lays them out so), so that four centroids are scored at once.
 */
function subspaceScores(x: usize, m: i32, ip: bool, out: usize): void {
  const book = pQOffsets + (((<usize>m * <usize>pqSub) << 8) << 2);
  centroidScores(x, subWidth(m), book, ip, out);
}

/**
 * The 256 scores of the w values at x against the centroids of `book` (transposed: value
 * i of the 256 centroids at book + i × 1024 bytes), written to out.
 */
function centroidScores(x: usize, w: i32, book: usize, ip: bool, out: usize): void {
  if (ASC_FEATURE_SIMD) {
    for (let j: usize = 0; j < 1024; j += 16) {
      let acc = f32x4.splat(0);
      for (let i: i32 = 0; i < w; i++) {
        const xi = f32x4.splat(load<f32>(x + ((<usize>i) << 2)));
        const c = v128.load(book + ((<usize>i) << 10) + j);
        if (ip) acc = f32x4.sub(acc, f32x4.mul(xi, c));
        else {
          const diff = f32x4.sub(xi, c);
          acc = f32x4.add(acc, f32x4.mul(diff, diff));
        }
      }
      v128.store(out + j, acc);
    }
    return;
  }
  for (let j: usize = 0; j < 1024; j += 4) {
    let acc: f32 = 0;
    for (let i: i32 = 0; i < w; i++) {
      const xi = load<f32>(x + ((<usize>i) << 2));
      const c = load<f32>(book + ((<usize>i) << 10) + j);
      acc = ip ? acc - xi * c : acc + (xi - c) * (xi - c);
    }
    store<f32>(out + j, acc);
  }
}

/** Encodes the dim floats at src as a product row at dst: each subspace's nearest centroid. */
function encodeProductInto(src: usize, dst: usize): void {
  memory.fill(dst, 0, codeLen);
  // pQCode holds a query's table, which no search needs while slots are encoded.
  const scores = pQCode;
  for (let m: i32 = 0; m < pqM; m++) {
    subspaceScores(src + ((<usize>(m * pqSub)) << 2), m, false, scores);
    store<u8>(dst + <usize>m, <u8>argmin256(scores));
  }
}

/** The index of the smallest of the 256 f32 at p (the first of equals; NaN never wins). */
function argmin256(p: usize): i32 {
  let best: i32 = 0;
  let bestD: f32 = Infinity;
  let j: i32 = 0;
  if (ASC_FEATURE_SIMD) {
    // Four running minima (lane l sees j ≡ l mod 4), then the best of the four.
    let bestV = f32x4.splat(Infinity);
    let bestI = i32x4.splat(0);
    let idx = i32x4(0, 1, 2, 3);
    const four = i32x4.splat(4);
    for (; j < 256; j += 4) {
      const d = v128.load(p + ((<usize>j) << 2));
      const lower = f32x4.lt(d, bestV);
      bestV = v128.bitselect(d, bestV, lower);
      bestI = v128.bitselect(idx, bestI, lower);
      idx = i32x4.add(idx, four);
    }
    for (let l: i32 = 0; l < 4; l++) {
      const d = f32x4.extract_lane(bestV, 0);
      const i = i32x4.extract_lane(bestI, 0);
      if (d < bestD || (d == bestD && i < best)) {
        bestD = d;
        best = i;
      }
      bestV = v128.shuffle<f32>(bestV, bestV, 1, 2, 3, 0);
      bestI = v128.shuffle<i32>(bestI, bestI, 1, 2, 3, 0);
    }
    return best;
  }
  for (; j < 256; j++) {
    const d = load<f32>(p + ((<usize>j) << 2));
    if (d < bestD) {
      bestD = d;
      best = j;
    }
  }
  return best;
}

/**
 * The assignment step of k-means for product training: for each of the n rows of s values
 * at rows, the number of its nearest (squared L2) centroid of `book` (transposed, as the
 * codes header holds it) into out; scratch takes 1 KiB of scores.
 */
export function pqAssign(
  rows: usize,
  n: i32,
  s: i32,
  book: usize,
  out: usize,
  scratch: usize,
): void {
  const step = (<usize>s) << 2;
  for (let r: i32 = 0; r < n; r++) {
    centroidScores(rows + <usize>r * step, s, book, false, scratch);
    store<u8>(out + <usize>r, <u8>argmin256(scratch));
  }
}

/** Fills the table at pQCode with the query at pQuery against every centroid. */
function encodeProductQuery(): void {
  for (let m: i32 = 0; m < pqM; m++) {
    subspaceScores(pQuery + ((<usize>(m * pqSub)) << 2), m, metricIp, pQCode + ((<usize>m) << 10));
  }
}

/** The table distance of the row at b: the sum of the entries its centroid numbers name. */
function productDist(table: usize, b: usize): f32 {
  let s0: f32 = 0;
  let s1: f32 = 0;
  let m: i32 = 0;
  for (; m + 1 < pqM; m += 2) {
    const t = table + ((<usize>m) << 10);
    s0 += load<f32>(t + ((<usize>load<u8>(b + <usize>m)) << 2));
    s1 += load<f32>(t + 1024 + ((<usize>load<u8>(b + <usize>m + 1)) << 2));
  }
  if (m < pqM) s0 += load<f32>(table + ((<usize>m) << 10) + ((<usize>load<u8>(b + <usize>m)) << 2));
  return s0 + s1;
}

/** Sets bit d of the bit plane at p. */
function setBit(p: usize, d: i32): void {
  const at = p + <usize>(d >> 3);
  const bit = 1 << (d & 7);
  store<u8>(at, load<u8>(at) | (<u8>bit));
}

/** acc plus v's lanes in order: the scalar loop's sums, bit for bit (inlined by -O3). */
function addLanes(acc: f32, v: v128): f32 {
  return (
    acc +
    f32x4.extract_lane(v, 0) +
    f32x4.extract_lane(v, 1) +
    f32x4.extract_lane(v, 2) +
    f32x4.extract_lane(v, 3)
  );
}

/**
 * Encodes the dim floats at src as a binary row at dst: its planes, then the tail. Every
 * search encodes its query this way (a 1024-d query took as long as the walk of its
 * bits), so one and two planes run 32 dimensions at a time with SIMD: a 32-bit word of
 * each plane from eight f32x4 comparisons, with no branch per value. The tail's sums add
 * the products in the scalar loop's order, so both builds store the same bytes (and
 * encodeBinary, their reference). A NaN value is read as the offset itself: no bit, and
 * it adds zero, as the scalar loop adds nothing. The scalar loop does the rest, and one
 * and a half bits.
 */
function encodeBitsInto(src: usize, dst: usize): void {
  memory.fill(dst, 0, codeLen + 16);
  const two = planes == 2;
  const half = planes == 3;
  let norm: f32 = 0;
  let popA: i32 = 0;
  let popB: i32 = 0;
  let bias: f32 = 0;
  let fit: f32 = 0;
  let fitNorm: f32 = 0;
  let d: i32 = 0;
  if (ASC_FEATURE_SIMD) {
    if (!half) {
      const one = f32x4.splat(1);
      const minusOne = f32x4.splat(-1);
      const end32 = dim & ~31;
      for (; d < end32; d += 32) {
        let wordA: i32 = 0;
        let wordB: i32 = 0;
        for (let j: i32 = 0; j < 32; j += 4) {
          const at = (<usize>(d + j)) << 2;
          const o = v128.load(pQOffsets + at);
          const raw = f32x4.sub(v128.load(src + at), o);
          const valid = f32x4.eq(raw, raw);
          const c = v128.and(raw, valid);
          let signs: v128;
          if (two) {
            const t = v128.load(pQThresh + at);
            const a = v128.and(f32x4.gt(c, f32x4.neg(t)), valid);
            const b = v128.and(f32x4.gt(c, t), valid);
            wordA |= i32x4.bitmask(a) << j;
            wordB |= i32x4.bitmask(b) << j;
            signs = f32x4.add(v128.bitselect(one, minusOne, a), v128.bitselect(one, minusOne, b));
          } else {
            const a = f32x4.gt(c, f32x4.splat(0));
            wordA |= i32x4.bitmask(a) << j;
            signs = v128.bitselect(one, minusOne, a);
          }
          const r = v128.and(f32x4.mul(v128.load(pQMag + at), signs), valid);
          norm = addLanes(norm, f32x4.mul(c, c));
          bias = addLanes(bias, f32x4.mul(o, c));
          fit = addLanes(fit, f32x4.mul(c, r));
          fitNorm = addLanes(fitNorm, f32x4.mul(r, r));
        }
        store<i32>(dst + <usize>(d >> 3), wordA);
        popA += popcnt<i32>(wordA);
        if (two) {
          store<i32>(dst + bitLen + <usize>(d >> 3), wordB);
          popB += popcnt<i32>(wordB);
        }
      }
    }
  }
  for (; d < dim; d++) {
    const at = (<usize>d) << 2;
    const o = load<f32>(pQOffsets + at);
    const c = load<f32>(src + at) - o;
    if (c != c) continue; // NaN: every bit 0, as if far below the offset
    norm += c * c;
    bias += o * c;
    const t: f32 = two || half ? load<f32>(pQThresh + at) : 0;
    let signs: f32 = -1;
    if (c > -t) {
      setBit(dst, d);
      popA++;
      signs = 1;
    }
    if (half && c > t) {
      const b = dst + bitLen + <usize>((d >> 1) >> 3);
      const bit = 1 << ((d >> 1) & 7);
      if (((<i32>load<u8>(b)) & bit) == 0) popB++;
      store<u8>(b, load<u8>(b) | (<u8>bit));
    }
    if (two) {
      if (c > t) {
        setBit(dst + bitLen, d);
        popB++;
        signs += 1;
      } else signs -= 1;
    }
    const r = load<f32>(pQMag + at) * signs;
    fit += c * r;
    fitNorm += r * r;
  }
  store<f32>(dst + codeLen, metricIp ? bias : norm);
  store<i32>(dst + codeLen, popA, 4);
  store<i32>(dst + codeLen, popB, 8);
  store<f32>(dst + codeLen, fitNorm > 0 ? fit / fitNorm : 0, 12);
}

/**
 * Encodes the query at pQuery for a binary search: its own planes (symmetric), or its
 * weights as queryBits bit planes (asymmetric; sets qStep and qSum). The asymmetric code
 * runs four dimensions at a time with SIMD (one 1024-d query cost a third of a search
 * scalar): the same rounding and clamping, so the same bits; bit j of the unsigned codes
 * is shifted into each lane's sign and gathered with bitmask.
 */
function encodeBitsQuery(): void {
  if (queryBits == 0) {
    encodeBitsInto(pQuery, pQCode);
    return;
  }
  const end4 = ASC_FEATURE_SIMD ? dim & ~3 : 0;
  let top: f32 = 0;
  if (ASC_FEATURE_SIMD) {
    let vTop = f32x4.splat(0);
    for (let d: i32 = 0; d < end4; d += 4) vTop = f32x4.max(vTop, f32x4.abs(bitWeights4(d)));
    top = max<f32>(
      max<f32>(f32x4.extract_lane(vTop, 0), f32x4.extract_lane(vTop, 1)),
      max<f32>(f32x4.extract_lane(vTop, 2), f32x4.extract_lane(vTop, 3)),
    );
  }
  for (let d: i32 = end4; d < dim; d++) {
    const w = abs<f32>(bitWeight(d));
    if (w > top) top = w;
  }
  const levels: i32 = queryBits == 8 ? 127 : 7;
  const half: i32 = levels + 1;
  qStep = top > 0 ? top / <f32>levels : 1;
  const inv: f32 = 1 / qStep;
  memory.fill(pQCode, 0, bitLen * <usize>queryBits);
  let sum: i32 = 0;
  if (ASC_FEATURE_SIMD) {
    const vInv = f32x4.splat(inv);
    const hi = i32x4.splat(levels);
    const lo = i32x4.splat(-levels);
    let vSum = i32x4.splat(0);
    for (let d: i32 = 0; d < end4; d += 4) {
      const scaled = f32x4.nearest(f32x4.mul(bitWeights4(d), vInv));
      const e = i32x4.max_s(i32x4.min_s(i32x4.trunc_sat_f32x4_s(scaled), hi), lo);
      vSum = i32x4.add(vSum, e);
      const u = i32x4.add(e, i32x4.splat(half));
      const byte = <usize>(d >> 3);
      const shift = d & 7;
      for (let j: i32 = 0; j < queryBits; j++) {
        const bits = i32x4.bitmask(i32x4.shl(u, 31 - j));
        const at = pQCode + bitLen * <usize>j + byte;
        store<u8>(at, load<u8>(at) | (<u8>(bits << shift)));
      }
    }
    sum =
      i32x4.extract_lane(vSum, 0) +
      i32x4.extract_lane(vSum, 1) +
      i32x4.extract_lane(vSum, 2) +
      i32x4.extract_lane(vSum, 3);
  }
  for (let d: i32 = end4; d < dim; d++) {
    let e = <i32>nearest<f32>(bitWeight(d) * inv);
    if (e > levels) e = levels;
    if (e < -levels) e = -levels;
    sum += e;
    const u = e + half;
    for (let j: i32 = 0; j < queryBits; j++) {
      if (((u >> j) & 1) != 0) setBit(pQCode + bitLen * <usize>j, d);
    }
  }
  qSum = sum;
}

/** The query's weights in dimensions d to d + 3 (NaN → 0), as bitWeight. */
function bitWeights4(d: i32): v128 {
  const at = (<usize>d) << 2;
  const c = f32x4.sub(v128.load(pQuery + at), v128.load(pQOffsets + at));
  const w = f32x4.mul(c, v128.load(pQMag + at));
  return v128.and(w, f32x4.eq(w, w));
}

/** The query's weight in dimension d for asymmetric search (NaN → 0). */
function bitWeight(d: i32): f32 {
  const at = (<usize>d) << 2;
  const w = (load<f32>(pQuery + at) - load<f32>(pQOffsets + at)) * load<f32>(pQMag + at);
  return w != w ? 0 : w;
}

/**
 * The quantized distance of the query's codes at a to the binary row at b: the Hamming
 * distance of their planes (symmetric), else from the estimate of (q - o)·(x - o) (see
 * the header): -(estimate + o·(x - o)) for inner products, ‖x - o‖² - 2·estimate for
 * squared L2 (terms of the query alone are left out: they rank nothing).
 */
function bitDist(a: usize, b: usize): f32 {
  if (queryBits == 0) return <f32>hammingBits(a, b, <i32>codeLen);
  const half: i32 = queryBits == 8 ? 128 : 8;
  const n = <i32>bitLen;
  let s: i32 = 0;
  for (let p: i32 = 0; p < planes; p++) {
    const dot = planeDot(a, b + <usize>(p * n), n, queryBits);
    const pop = load<i32>(b + codeLen + <usize>(4 + 4 * p));
    s += 2 * (dot - half * pop) - qSum;
  }
  const estimate = <f32>s * qStep * load<f32>(b + codeLen, 12);
  if (metricIp) return -(estimate + load<f32>(b + codeLen));
  return load<f32>(b + codeLen) - 2 * estimate;
}

function links(id: i32, level: i32): usize {
  if (level == 0) return pLinks0 + <usize>id * stride0;
  return pUpper + <usize>load<u32>(pUpperOff + ((<usize>id) << 2)) + <usize>(level - 1) * strideU;
}

function flagsOf(id: i32): u8 {
  return load<u8>(pFlags + <usize>id);
}

function nextEpoch(): void {
  epoch++;
  if (epoch > 0xffff) {
    memory.fill(pVisited, 0, (<usize>cap) << 1);
    epoch = 1;
  }
}

/** Marks id visited in the current epoch; returns true when it already was. */
function testAndMark(id: i32): bool {
  const p = pVisited + ((<usize>id) << 1);
  if (<u32>load<u16>(p) == epoch) return true;
  store<u16>(p, <u16>epoch);
  return false;
}

/** Greedy descent (beam width 1) from (cur, curD) through levels from..to+1. */
function greedy(q: usize, cur: i32, curD: f32, from: i32, to: i32): void {
  for (let l = from; l > to; l--) {
    let changed = true;
    while (changed) {
      changed = false;
      const lp = links(cur, l);
      const cnt = load<i32>(lp);
      statVisited++;
      for (let j = 0; j < cnt; j++) {
        const nb = load<i32>(lp + 4 + ((<usize>j) << 2));
        const d = dist(q, vec(nb));
        statDist++;
        if (d < curD) {
          curD = d;
          cur = nb;
          changed = true;
        }
      }
    }
  }
  gCur = cur;
  gCurD = curD;
}

/**
 * Beam search on one level with a sorted pool of at most ef entries (8 bytes each:
 * f32 distance, i32 id with bit 31 set once expanded). Equivalent to the two-heap
 * formulation: it stops when every entry of the best ef has been expanded.
 * Returns the pool size; the pool at pPool is sorted ascending by distance.
 */
function poolSearch(q: usize, ep: i32, epD: f32, ef: i32, level: i32): i32 {
  nextEpoch();
  testAndMark(ep);
  const pool = pPool;
  store<f32>(pool, epD);
  store<i32>(pool, ep, 4);
  let n: i32 = 1;
  let cur: i32 = 0;
  while (cur < n) {
    const e = pool + ((<usize>cur) << 3);
    const id = load<i32>(e, 4);
    store<i32>(e, id | EXPANDED, 4);
    const lp = links(id, level);
    const cnt = load<i32>(lp);
    let minPos = n;
    statVisited++;
    // Gather the unvisited neighbours first, then score them in one tight loop (the CPU
    // overlaps the next vector's loads with this one's arithmetic), then merge into the pool.
    const batch = pSel;
    let nb: i32 = 0;
    for (let j = 0; j < cnt; j++) {
      const c = load<i32>(lp + 4 + ((<usize>j) << 2));
      if (testAndMark(c)) continue;
      store<i32>(batch + ((<usize>nb) << 3), c, 4);
      nb++;
    }
    for (let j = 0; j < nb; j++) {
      const e = batch + ((<usize>j) << 3);
      store<f32>(e, dist(q, vec(load<i32>(e, 4))));
    }
    statDist += nb;
    for (let j = 0; j < nb; j++) {
      const e = batch + ((<usize>j) << 3);
      const d = load<f32>(e);
      const full = n >= ef;
      if (full && d >= load<f32>(pool + ((<usize>(n - 1)) << 3))) continue;
      // Binary search for the first entry with a greater distance.
      let lo: i32 = 0;
      let hi: i32 = full ? n - 1 : n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (load<f32>(pool + ((<usize>mid) << 3)) > d) hi = mid;
        else lo = mid + 1;
      }
      // Shift [lo, last) up one entry; a short loop beats memory.copy's call for ef-sized pools.
      const at = pool + ((<usize>lo) << 3);
      let p = pool + ((<usize>(full ? n - 1 : n)) << 3);
      while (p > at) {
        store<u64>(p, load<u64>(p - 8));
        p -= 8;
      }
      store<u64>(at, load<u64>(e));
      if (!full) n++;
      if (lo < minPos) minPos = lo;
    }
    cur = minPos <= cur ? minPos : cur + 1;
    while (cur < n && load<i32>(pool + ((<usize>cur) << 3), 4) < 0) cur++;
  }
  return n;
}

// ---- binary min-heap of (f32 key, i32 id) pairs ----

function heapPush(base: usize, n: i32, key: f32, id: i32): void {
  let i = n;
  while (i > 0) {
    const p = (i - 1) >> 1;
    const pp = base + ((<usize>p) << 3);
    const pk = load<f32>(pp);
    if (pk <= key) break;
    store<u64>(base + ((<usize>i) << 3), load<u64>(pp));
    i = p;
  }
  const at = base + ((<usize>i) << 3);
  store<f32>(at, key);
  store<i32>(at, id, 4);
}

/** Removes the root of a heap of n entries (n >= 1); the popped pair is left at index n-1. */
function heapPop(base: usize, n: i32): void {
  const last = n - 1;
  const root = load<u64>(base);
  const lastPair = load<u64>(base + ((<usize>last) << 3));
  const key = load<f32>(base + ((<usize>last) << 3));
  let i: i32 = 0;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= last) break;
    let c = l;
    const r = l + 1;
    if (r < last && load<f32>(base + ((<usize>r) << 3)) < load<f32>(base + ((<usize>l) << 3)))
      c = r;
    const cp = base + ((<usize>c) << 3);
    if (load<f32>(cp) >= key) break;
    store<u64>(base + ((<usize>i) << 3), load<u64>(cp));
    i = c;
  }
  if (last > 0) store<u64>(base + ((<usize>i) << 3), lastPair);
  store<u64>(base + ((<usize>last) << 3), root);
}

function admitted(id: i32, mode: i32): bool {
  if (flagsOf(id) != (F_PRESENT | F_ALLOCATED)) return false;
  if (mode == 2) return load<u8>(pAllow + <usize>id) == 1;
  if (mode == 3) return admit(id) != 0;
  return true;
}

/**
 * Level-0 search that traverses every node but admits into the results only live nodes
 * passing the filter (mode 1: tombstones only, 2: allow bytes, 3: JS callback), as hnswlib's
 * searchBaseLayerST with deletions/filter. Candidates: min-heap at pHeap (bounded by
 * heapCap; overflow drops the newcomer). Results: max-heap (negated keys) at pPool.
 * Leaves the results sorted ascending by distance at pOut and returns their count.
 */
function filteredSearch(q: usize, ep: i32, epD: f32, ef: i32, mode: i32): i32 {
  nextEpoch();
  testAndMark(ep);
  const cand = pHeap;
  const top = pPool;
  let nc: i32 = 0;
  let nt: i32 = 0;
  let lower: f32 = Infinity;
  if (admitted(ep, mode)) {
    heapPush(top, nt++, -epD, ep);
    lower = epD;
  }
  heapPush(cand, nc++, epD, ep);
  while (nc > 0) {
    const cd = load<f32>(cand);
    const c = load<i32>(cand, 4);
    if (cd > lower && nt >= ef) break;
    heapPop(cand, nc--);
    statVisited++;
    const lp = links(c, 0);
    const cnt = load<i32>(lp);
    for (let j = 0; j < cnt; j++) {
      const nb = load<i32>(lp + 4 + ((<usize>j) << 2));
      if (testAndMark(nb)) continue;
      const d = dist(q, vec(nb));
      statDist++;
      if (nt < ef || d < lower) {
        if (nc < heapCap) heapPush(cand, nc++, d, nb);
        if (admitted(nb, mode)) {
          // Full: d < lower here, so it replaces the worst result (the heap never exceeds ef).
          if (nt < ef) heapPush(top, nt++, -d, nb);
          else {
            heapPop(top, nt);
            heapPush(top, nt - 1, -d, nb);
          }
          lower = -load<f32>(top);
        }
      }
    }
  }
  return drainTop(nt);
}

/**
 * Exact scan of the live points the allow bytes admit, when there are at most `limit` of
 * them (a very selective filter: the graph walk would visit about ef / selectivity nodes to
 * find ef matches, scoring them all is cheaper and exact). Returns -1 past the limit;
 * else writes the best ef ascending at pOut and returns their count.
 */
function exactAllowed(q: usize, ef: i32, slots: i32, limit: i32): i32 {
  let admittedCount: i32 = 0;
  for (let id = 0; id < slots; id++) {
    if (load<u8>(pAllow + <usize>id) == 1 && flagsOf(id) == (F_PRESENT | F_ALLOCATED)) {
      if (++admittedCount > limit) return -1;
    }
  }
  let nt: i32 = 0;
  for (let id = 0; id < slots; id++) {
    if (load<u8>(pAllow + <usize>id) != 1 || flagsOf(id) != (F_PRESENT | F_ALLOCATED)) continue;
    nt = offerTop(nt, ef, dist(q, vec(id)), id);
  }
  statVisited = admittedCount;
  statDist = admittedCount;
  return drainTop(nt);
}

/**
 * Exact top-k over the slots in [from, slots) whose flags equal `want` (live nodes, or
 * staged vectors not yet in the graph; only those the allow bytes admit when useAllow is
 * 1), for exact searches, small segments and vectors waiting for the graph: scores every
 * candidate with the SIMD kernel and keeps the k best in the max-heap at pPool (k ≤ the
 * pool's capacity). Writes them ascending at pOut and returns how many.
 */
export function scanExact(k: i32, useAllow: i32, from: i32, slots: i32, staged: i32): i32 {
  useCodes = false;
  const q = pQuery;
  const want: u8 = staged != 0 ? F_STAGED : F_PRESENT | F_ALLOCATED;
  let nt: i32 = 0;
  let n: i32 = 0;
  for (let id = from; id < slots; id++) {
    if (flagsOf(id) != want) continue;
    if (useAllow != 0 && load<u8>(pAllow + <usize>id) != 1) continue;
    n++;
    nt = offerTop(nt, k, dist(q, vec(id)), id);
  }
  statVisited = n;
  statDist = n;
  return drainTop(nt);
}

/**
 * Offers (d, id) to the best-k max-heap at pPool (negated keys) holding nt entries;
 * returns its new size.
 */
function offerTop(nt: i32, k: i32, d: f32, id: i32): i32 {
  const top = pPool;
  if (nt < k) {
    heapPush(top, nt, -d, id);
    return nt + 1;
  }
  if (d < -load<f32>(top)) {
    heapPop(top, nt);
    heapPush(top, nt - 1, -d, id);
  }
  return nt;
}

/** Pops the result max-heap at pPool (negated keys) into pOut, ascending by distance. */
function drainTop(count: i32): i32 {
  const top = pPool;
  let nt = count;
  while (nt > 0) {
    heapPop(top, nt);
    nt--;
    const src = top + ((<usize>nt) << 3);
    const dst = pOut + ((<usize>nt) << 3);
    store<f32>(dst, -load<f32>(src));
    store<i32>(dst, load<i32>(src, 4), 4);
  }
  return count;
}

/**
 * Searches for the query at pQuery among slots [0, slots). mode 0: no tombstones, no filter
 * (fast pool search); 1..3: see filteredSearch (mode 2 scans exactly when the allow bytes
 * admit at most 2·ef live points). Writes (f32 distance, i32 id) pairs ascending at pOut
 * and returns how many (at most ef; the caller keeps the first k).
 */
export function search(ef: i32, mode: i32, slots: i32): i32 {
  useCodes = false;
  return searchFrom(pQuery, ef, mode, slots);
}

/**
 * search() over the int8 codes: the query at pQuery is encoded to pQCode and the graph is
 * walked with quantized distances. With rescore > 0 the best `rescore` results are scored
 * again with the float vectors and sorted by that exact distance; the count returned is
 * then at most rescore. With rescore 0 the distances are the quantized ones.
 */
export function searchCodes(ef: i32, mode: i32, slots: i32, rescore: i32): i32 {
  if (codeProduct) encodeProductQuery();
  else if (codeBits) encodeBitsQuery();
  else encodeQuery();
  useCodes = true;
  const n = searchFrom(pQCode, ef, mode, slots);
  useCodes = false;
  if (rescore <= 0) return n;
  const r = rescore < n ? rescore : n;
  for (let i: i32 = 0; i < r; i++) {
    const e = pOut + ((<usize>i) << 3);
    store<f32>(e, dist(pQuery, vec(load<i32>(e, 4))));
  }
  statDist += r;
  sortPairsLarge(pOut, r);
  return r;
}

function searchFrom(q: usize, ef: i32, mode: i32, slots: i32): i32 {
  statVisited = 0;
  statDist = 0;
  if (entry < 0) return 0;
  if (mode == 2) {
    const exact = exactAllowed(q, ef, slots, 2 * ef);
    if (exact >= 0) return exact;
  }
  const d0 = dist(q, vec(entry));
  statDist++;
  greedy(q, entry, d0, maxLevel, 0);
  if (mode != 0) return filteredSearch(q, gCur, gCurD, ef, mode);
  const n = poolSearch(q, gCur, gCurD, ef, 0);
  for (let i = 0; i < n; i++) {
    const o = (<usize>i) << 3;
    store<f32>(pOut + o, load<f32>(pPool + o));
    store<i32>(pOut + o, load<i32>(pPool + o, 4) & ~EXPANDED, 4);
  }
  return n;
}

/**
 * The neighbour-selection heuristic (hnswlib getNeighborsByHeuristic2): walks candidates
 * (pairs at src, ascending by distance to the base) and keeps one unless it is closer to an
 * already kept neighbour than to the base. Skips `skip` and deleted nodes (unless nothing
 * else is left). Writes the count and ids to the link list at out; returns the count.
 */
function selectNeighbors(src: usize, n: i32, m: i32, out: usize, skip: i32): i32 {
  let kept: i32 = 0;
  for (let i = 0; i < n && kept < m; i++) {
    const e = src + ((<usize>i) << 3);
    const id = load<i32>(e, 4) & ~EXPANDED;
    if (id == skip || (flagsOf(id) & F_DELETED) != 0) continue;
    const d = load<f32>(e);
    const v = vec(id);
    let good = true;
    for (let j = 0; j < kept; j++) {
      const r = load<i32>(out + 4 + ((<usize>j) << 2));
      if (dist(v, vec(r)) < d) {
        good = false;
        break;
      }
    }
    if (good) {
      store<i32>(out + 4 + ((<usize>kept) << 2), id);
      kept++;
    }
  }
  if (kept == 0) {
    // Only deleted candidates: keep the closest so the node stays reachable.
    for (let i = 0; i < n; i++) {
      const id = load<i32>(src + ((<usize>i) << 3), 4) & ~EXPANDED;
      if (id != skip) {
        store<i32>(out + 4, id);
        kept = 1;
        break;
      }
    }
  }
  store<i32>(out, kept);
  return kept;
}

/** Insertion sort of n (f32, i32) pairs ascending by key. */
function sortPairs(base: usize, n: i32): void {
  for (let i = 1; i < n; i++) {
    const pi = base + ((<usize>i) << 3);
    const pair = load<u64>(pi);
    const key = load<f32>(pi);
    let j = i - 1;
    while (j >= 0 && load<f32>(base + ((<usize>j) << 3)) > key) {
      store<u64>(base + ((<usize>(j + 1)) << 3), load<u64>(base + ((<usize>j) << 3)));
      j--;
    }
    store<u64>(base + ((<usize>(j + 1)) << 3), pair);
  }
}

/** Heap sort for the larger candidate sets of repair: ascending by key. */
function sortPairsLarge(base: usize, n: i32): void {
  if (n <= 48) {
    sortPairs(base, n);
    return;
  }
  // Build a min-heap in place, then pop into pHeap-free order via a copy through pOut.
  for (let i = 0; i < n; i++) {
    const p = base + ((<usize>i) << 3);
    heapPush(base, i, load<f32>(p), load<i32>(p, 4));
  }
  for (let k = n; k > 0; k--) heapPop(base, k);
  // Popped pairs were left at the back in pop order: descending from index n-1 is ascending
  // reversed, so reverse in place.
  let i: i32 = 0;
  let j: i32 = n - 1;
  while (i < j) {
    const a = base + ((<usize>i) << 3);
    const b = base + ((<usize>j) << 3);
    const t = load<u64>(a);
    store<u64>(a, load<u64>(b));
    store<u64>(b, t);
    i++;
    j--;
  }
}

/** Adds id to nb's list at level; prunes with the heuristic when the list is full. */
function connect(nb: i32, id: i32, level: i32, d: f32): void {
  const lp = links(nb, level);
  const cnt = load<i32>(lp);
  for (let j = 0; j < cnt; j++) if (load<i32>(lp + 4 + ((<usize>j) << 2)) == id) return;
  const mmax = level == 0 ? m0 : mUpper;
  if (cnt < mmax) {
    store<i32>(lp + 4 + ((<usize>cnt) << 2), id);
    store<i32>(lp, cnt + 1);
    return;
  }
  const sel = pSel;
  const base = vec(nb);
  store<f32>(sel, d);
  store<i32>(sel, id, 4);
  for (let j = 0; j < cnt; j++) {
    const o = load<i32>(lp + 4 + ((<usize>j) << 2));
    const e = sel + ((<usize>(j + 1)) << 3);
    store<f32>(e, dist(base, vec(o)));
    store<i32>(e, o, 4);
  }
  sortPairs(sel, cnt + 1);
  selectNeighbors(sel, cnt + 1, mmax, lp, nb);
}

/**
 * Inserts (or re-links) the node id whose vector, level, upper-link offset and flags
 * TypeScript has already written. efC is efConstruction.
 */
export function insert(id: i32, level: i32, efC: i32): void {
  useCodes = false;
  for (let l = 0; l <= level; l++) store<i32>(links(id, l), 0);
  if (entry < 0) {
    entry = id;
    maxLevel = level;
    return;
  }
  const q = vec(id);
  let cur = entry;
  let curD = dist(q, vec(cur));
  greedy(q, cur, curD, maxLevel, level);
  cur = gCur;
  curD = gCurD;
  const top = level < maxLevel ? level : maxLevel;
  for (let l = top; l >= 0; l--) {
    const n = poolSearch(q, cur, curD, efC, l);
    const lp = links(id, l);
    const kept = selectNeighbors(pPool, n, mUpper, lp, id);
    for (let j = 0; j < kept; j++) {
      const nb = load<i32>(lp + 4 + ((<usize>j) << 2));
      connect(nb, id, l, dist(q, vec(nb)));
    }
    // Next level starts from the closest node that is not the node itself.
    for (let i = 0; i < n; i++) {
      const e = pPool + ((<usize>i) << 3);
      const c = load<i32>(e, 4) & ~EXPANDED;
      if (c != id) {
        cur = c;
        curD = load<f32>(e);
        break;
      }
    }
  }
  if (level > maxLevel) {
    entry = id;
    maxLevel = level;
  }
}

/**
 * Repairs the graph around tombstones (nodes flagged deleted) among slots [0, n): every
 * live node that links to a deleted one re-selects its neighbours, with the heuristic, from
 * its live neighbours and the deleted neighbours' live neighbours. Then the deleted nodes'
 * lists are cleared and their flags reset to free (F_ALLOCATED kept: level and upper block
 * are reused on re-add). Needs pSel to hold (1 + m0) * (1 + m0) pairs. Returns nodes freed.
 */
export function repair(n: i32): i32 {
  useCodes = false;
  for (let p = 0; p < n; p++) {
    if (flagsOf(p) != (F_PRESENT | F_ALLOCATED)) continue;
    const lvl = <i32>load<u8>(pLevels + <usize>p);
    const base = vec(p);
    for (let l = 0; l <= lvl; l++) {
      const lp = links(p, l);
      const cnt = load<i32>(lp);
      let hasDeleted = false;
      for (let j = 0; j < cnt; j++) {
        if ((flagsOf(load<i32>(lp + 4 + ((<usize>j) << 2))) & F_DELETED) != 0) {
          hasDeleted = true;
          break;
        }
      }
      if (!hasDeleted) continue;
      nextEpoch();
      testAndMark(p);
      let nc: i32 = 0;
      for (let j = 0; j < cnt; j++) {
        const nb = load<i32>(lp + 4 + ((<usize>j) << 2));
        if ((flagsOf(nb) & F_DELETED) == 0) {
          if (testAndMark(nb)) continue;
          const e = pSel + ((<usize>nc) << 3);
          store<f32>(e, dist(base, vec(nb)));
          store<i32>(e, nb, 4);
          nc++;
          continue;
        }
        if (<i32>load<u8>(pLevels + <usize>nb) < l) continue;
        const dp = links(nb, l);
        const dc = load<i32>(dp);
        for (let t = 0; t < dc; t++) {
          const c = load<i32>(dp + 4 + ((<usize>t) << 2));
          if ((flagsOf(c) & F_DELETED) != 0 || flagsOf(c) == 0) continue;
          if (testAndMark(c)) continue;
          const e = pSel + ((<usize>nc) << 3);
          store<f32>(e, dist(base, vec(c)));
          store<i32>(e, c, 4);
          nc++;
        }
      }
      sortPairsLarge(pSel, nc);
      const mmax = l == 0 ? m0 : mUpper;
      if (nc == 0) store<i32>(lp, 0);
      else selectNeighbors(pSel, nc, mmax, lp, p);
    }
  }
  let freed: i32 = 0;
  for (let p = 0; p < n; p++) {
    const f = flagsOf(p);
    if ((f & F_DELETED) == 0) continue;
    const lvl = <i32>load<u8>(pLevels + <usize>p);
    for (let l = 0; l <= lvl; l++) store<i32>(links(p, l), 0);
    store<u8>(pFlags + <usize>p, F_ALLOCATED);
    freed++;
  }
  if (entry >= 0 && flagsOf(entry) != (F_PRESENT | F_ALLOCATED)) {
    entry = -1;
    maxLevel = -1;
    for (let p = 0; p < n; p++) {
      if (flagsOf(p) != (F_PRESENT | F_ALLOCATED)) continue;
      const lvl = <i32>load<u8>(pLevels + <usize>p);
      if (lvl > maxLevel) {
        maxLevel = lvl;
        entry = p;
      }
    }
  }
  return freed;
}
