// AssemblyScript distance kernels over raw pointers into linear memory: dot and squared L2.
// Built twice by scripts/build-wasm.ts: with f32x4 SIMD (ASC_FEATURE_SIMD) and without.
// Accumulates in f32 like the native peers; the JS scalar kernel is the oracle in tests.

/** Dot product of n floats at a and b. */
export function dotF32(a: usize, b: usize, n: i32): f32 {
  let i: i32 = 0;
  let s: f32 = 0;
  if (ASC_FEATURE_SIMD) {
    let s0 = f32x4.splat(0);
    let s1 = f32x4.splat(0);
    let s2 = f32x4.splat(0);
    let s3 = f32x4.splat(0);
    const end16 = n & ~15;
    let pa = a;
    let pb = b;
    for (; i < end16; i += 16) {
      s0 = f32x4.add(s0, f32x4.mul(v128.load(pa), v128.load(pb)));
      s1 = f32x4.add(s1, f32x4.mul(v128.load(pa, 16), v128.load(pb, 16)));
      s2 = f32x4.add(s2, f32x4.mul(v128.load(pa, 32), v128.load(pb, 32)));
      s3 = f32x4.add(s3, f32x4.mul(v128.load(pa, 48), v128.load(pb, 48)));
      pa += 64;
      pb += 64;
    }
    const end4 = n & ~3;
    for (; i < end4; i += 4) {
      s0 = f32x4.add(s0, f32x4.mul(v128.load(pa), v128.load(pb)));
      pa += 16;
      pb += 16;
    }
    const t = f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3));
    s =
      f32x4.extract_lane(t, 0) +
      f32x4.extract_lane(t, 1) +
      (f32x4.extract_lane(t, 2) + f32x4.extract_lane(t, 3));
  } else {
    let s0: f32 = 0;
    let s1: f32 = 0;
    let s2: f32 = 0;
    let s3: f32 = 0;
    const end4 = n & ~3;
    for (; i < end4; i += 4) {
      const o = (<usize>i) << 2;
      s0 += load<f32>(a + o) * load<f32>(b + o);
      s1 += load<f32>(a + o, 4) * load<f32>(b + o, 4);
      s2 += load<f32>(a + o, 8) * load<f32>(b + o, 8);
      s3 += load<f32>(a + o, 12) * load<f32>(b + o, 12);
    }
    s = s0 + s1 + (s2 + s3);
  }
  for (; i < n; i++) {
    const o = (<usize>i) << 2;
    s += load<f32>(a + o) * load<f32>(b + o);
  }
  return s;
}

/** Squared Euclidean distance of n floats at a and b. */
export function l2sqF32(a: usize, b: usize, n: i32): f32 {
  let i: i32 = 0;
  let s: f32 = 0;
  if (ASC_FEATURE_SIMD) {
    let s0 = f32x4.splat(0);
    let s1 = f32x4.splat(0);
    let s2 = f32x4.splat(0);
    let s3 = f32x4.splat(0);
    const end16 = n & ~15;
    let pa = a;
    let pb = b;
    for (; i < end16; i += 16) {
      const d0 = f32x4.sub(v128.load(pa), v128.load(pb));
      const d1 = f32x4.sub(v128.load(pa, 16), v128.load(pb, 16));
      const d2 = f32x4.sub(v128.load(pa, 32), v128.load(pb, 32));
      const d3 = f32x4.sub(v128.load(pa, 48), v128.load(pb, 48));
      s0 = f32x4.add(s0, f32x4.mul(d0, d0));
      s1 = f32x4.add(s1, f32x4.mul(d1, d1));
      s2 = f32x4.add(s2, f32x4.mul(d2, d2));
      s3 = f32x4.add(s3, f32x4.mul(d3, d3));
      pa += 64;
      pb += 64;
    }
    const end4 = n & ~3;
    for (; i < end4; i += 4) {
      const d0 = f32x4.sub(v128.load(pa), v128.load(pb));
      s0 = f32x4.add(s0, f32x4.mul(d0, d0));
      pa += 16;
      pb += 16;
    }
    const t = f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3));
    s =
      f32x4.extract_lane(t, 0) +
      f32x4.extract_lane(t, 1) +
      (f32x4.extract_lane(t, 2) + f32x4.extract_lane(t, 3));
  } else {
    let s0: f32 = 0;
    let s1: f32 = 0;
    let s2: f32 = 0;
    let s3: f32 = 0;
    const end4 = n & ~3;
    for (; i < end4; i += 4) {
      const o = (<usize>i) << 2;
      const d0 = load<f32>(a + o) - load<f32>(b + o);
      const d1 = load<f32>(a + o, 4) - load<f32>(b + o, 4);
      const d2 = load<f32>(a + o, 8) - load<f32>(b + o, 8);
      const d3 = load<f32>(a + o, 12) - load<f32>(b + o, 12);
      s0 += d0 * d0;
      s1 += d1 * d1;
      s2 += d2 * d2;
      s3 += d3 * d3;
    }
    s = s0 + s1 + (s2 + s3);
  }
  for (; i < n; i++) {
    const o = (<usize>i) << 2;
    const d = load<f32>(a + o) - load<f32>(b + o);
    s += d * d;
  }
  return s;
}

/**
 * Throughput probe for benchmarks: scores the query at q against count vectors stored
 * contiguously at base (metric 0 = squared L2, 1 = dot) and returns the sum.
 */
export function scanScores(q: usize, base: usize, count: i32, dim: i32, metric: i32): f64 {
  let s: f64 = 0;
  const stride = (<usize>dim) << 2;
  let p = base;
  if (metric == 0) {
    for (let i = 0; i < count; i++) {
      s += <f64>l2sqF32(q, p, dim);
      p += stride;
    }
  } else {
    for (let i = 0; i < count; i++) {
      s += <f64>dotF32(q, p, dim);
      p += stride;
    }
  }
  return s;
}

// ---- int8 codes (scalar quantization) ----
// Codes are signed bytes in [-127, 127]; both operands share one scale, so the integer
// sums below are the float distances up to a constant factor the caller applies. A dot
// product multiplies bytes into i16 (|a·b| ≤ 127²) and adds pairs into i32 lanes; a squared
// difference widens to i16 first (|a - b| ≤ 254) and multiplies and adds pairs with
// i32x4.dot_i16x8_s. Every lane stays within i32 up to the largest dimension, 65 536.

/**
 * The four i32 lanes of t added (wrapping: a caller reading the sum as u32 gets it exactly
 * up to 2^32, as l2sqI8 does).
 */
function sumLanes(t: v128): i32 {
  return (
    i32x4.extract_lane(t, 0) +
    i32x4.extract_lane(t, 1) +
    i32x4.extract_lane(t, 2) +
    i32x4.extract_lane(t, 3)
  );
}

/** Sum of a[i]·b[i] over n signed bytes at a and b. */
export function dotI8(a: usize, b: usize, n: i32): i32 {
  let i: i32 = 0;
  let s: i32 = 0;
  if (ASC_FEATURE_SIMD) {
    let s0 = i32x4.splat(0);
    let s1 = i32x4.splat(0);
    const end16 = n & ~15;
    let pa = a;
    let pb = b;
    for (; i < end16; i += 16) {
      const va = v128.load(pa);
      const vb = v128.load(pb);
      // Products of two codes in [-127, 127] fit i16; pairs of them are summed into i32.
      s0 = i32x4.add(s0, i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_low_i8x16_s(va, vb)));
      s1 = i32x4.add(s1, i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_high_i8x16_s(va, vb)));
      pa += 16;
      pb += 16;
    }
    s = sumLanes(i32x4.add(s0, s1));
  }
  for (; i < n; i++) {
    s += <i32>load<i8>(a + <usize>i) * <i32>load<i8>(b + <usize>i);
  }
  return s;
}

/**
 * Sum of (a[i] - b[i])² over n signed bytes at a and b. Unsigned: 254² × 65 536 (the
 * largest dimension) passes i32 but not u32; each of the 8 lanes holds an eighth of it.
 */
export function l2sqI8(a: usize, b: usize, n: i32): u32 {
  let i: i32 = 0;
  let s: u32 = 0;
  if (ASC_FEATURE_SIMD) {
    let s0 = i32x4.splat(0);
    let s1 = i32x4.splat(0);
    const end16 = n & ~15;
    let pa = a;
    let pb = b;
    for (; i < end16; i += 16) {
      const va = v128.load(pa);
      const vb = v128.load(pb);
      // Differences of two bytes in [-127, 127] fit i16; their squares, paired, fit i32.
      const lo = i16x8.sub(i16x8.extend_low_i8x16_s(va), i16x8.extend_low_i8x16_s(vb));
      const hi = i16x8.sub(i16x8.extend_high_i8x16_s(va), i16x8.extend_high_i8x16_s(vb));
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(lo, lo));
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(hi, hi));
      pa += 16;
      pb += 16;
    }
    s = <u32>sumLanes(i32x4.add(s0, s1));
  }
  for (; i < n; i++) {
    const d = <i32>load<i8>(a + <usize>i) - <i32>load<i8>(b + <usize>i);
    s += <u32>(d * d);
  }
  return s;
}

/** The bytes of t (each at most 8, a byte's popcount) summed into four i32 lanes. */
function widenCounts(t: v128): v128 {
  return i32x4.extadd_pairwise_i16x8_u(i16x8.extadd_pairwise_i8x16_u(t));
}

/** Number of bits that differ between the n bytes at a and at b (Hamming distance). */
export function hammingBits(a: usize, b: usize, n: i32): i32 {
  let i: i32 = 0;
  let s: i32 = 0;
  if (ASC_FEATURE_SIMD) {
    let acc = i32x4.splat(0);
    const end16 = n & ~15;
    for (; i < end16; i += 16) {
      const x = v128.xor(v128.load(a + <usize>i), v128.load(b + <usize>i));
      acc = i32x4.add(acc, widenCounts(i8x16.popcnt(x)));
    }
    s = sumLanes(acc);
  }
  for (; i < n; i++) {
    s += popcnt<i32>(<i32>(load<u8>(a + <usize>i) ^ load<u8>(b + <usize>i)));
  }
  return s;
}

/**
 * Σ_j 2^j · popcount(q_j & b) over `bits` bit planes q_j (n bytes each, the j-th at
 * q + j·n) and the n bytes at b: the dot product of a query coded as unsigned `bits`-bit
 * integers, one bit plane each, with the bits of b (an asymmetric binary distance).
 */
export function planeDot(q: usize, b: usize, n: i32, bits: i32): i32 {
  let i: i32 = 0;
  let s: i32 = 0;
  if (ASC_FEATURE_SIMD) {
    let acc = i32x4.splat(0);
    const end16 = n & ~15;
    for (; i < end16; i += 16) {
      const vb = v128.load(b + <usize>i);
      // Each u16 lane gathers at most 16 · (2^8 - 1) = 4080: no overflow before widening.
      let w = i16x8.splat(0);
      for (let j: i32 = 0; j < bits; j++) {
        const c = i8x16.popcnt(v128.and(v128.load(q + <usize>(j * n + i)), vb));
        w = i16x8.add(w, i16x8.shl(i16x8.extadd_pairwise_i8x16_u(c), j));
      }
      acc = i32x4.add(acc, i32x4.extadd_pairwise_i16x8_u(w));
    }
    s = sumLanes(acc);
  }
  for (; i < n; i++) {
    const vb = <i32>load<u8>(b + <usize>i);
    for (let j: i32 = 0; j < bits; j++) {
      s += popcnt<i32>((<i32>load<u8>(q + <usize>(j * n + i))) & vb) << j;
    }
  }
  return s;
}
