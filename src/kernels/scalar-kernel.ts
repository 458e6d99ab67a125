/**
 * The scalar JavaScript distance kernel: the reference every faster kernel is tested against.
 */
import type { DistanceKernel } from './distance-kernel.js';

export const SCALAR_KERNEL: DistanceKernel = Object.freeze({
  name: 'scalar',
  dot(a: Float32Array, aOff: number, b: Float32Array, bOff: number, dim: number): number {
    let s = 0;
    for (let i = 0; i < dim; i++) s += a[aOff + i]! * b[bOff + i]!;
    return s;
  },
  l2sq(a: Float32Array, aOff: number, b: Float32Array, bOff: number, dim: number): number {
    let s = 0;
    for (let i = 0; i < dim; i++) {
      const d = a[aOff + i]! - b[bOff + i]!;
      s += d * d;
    }
    return s;
  },
});
