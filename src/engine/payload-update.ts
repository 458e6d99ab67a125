/**
 * Payload updates (set / overwrite / delete keys / clear): the pure function that turns
 * an old payload into the new one, shared by the live write path and WAL replay so both
 * compute the same result.
 */
import type { Payload } from '../common/types.js';
import type { PayloadMode } from '../storage/wal/wal-body-codec.js';

/** The payload after an update of `mode`. Never mutates `old`. */
export function applyPayloadUpdate(
  old: Payload,
  mode: PayloadMode,
  payloadJson: string,
  keys: readonly string[],
): Payload {
  switch (mode) {
    case 'merge':
      return { ...old, ...(JSON.parse(payloadJson) as Payload) };
    case 'overwrite':
      return JSON.parse(payloadJson) as Payload;
    case 'delete-keys': {
      const out: Payload = { ...old };
      for (const k of keys) delete out[k];
      return out;
    }
    case 'clear':
      return {};
    default: {
      const never: never = mode;
      throw new Error(`unknown payload mode ${String(never)}`);
    }
  }
}
