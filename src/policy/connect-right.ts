import type { ErrorCode } from '../errors.js';
import type { Principal } from './authorization.js';
import type { DeviceRecord, KeyRecord } from './model.js';
import { isInScope } from './scope.js';
import type { Parsed } from './tags.js';

/** A device record as read: missing, unparseable, or parsed. */
export type DeviceRead = { found: false } | { found: true; device: Parsed<DeviceRecord> };

export type ConnectRight = { ok: true; principal: Principal } | { ok: false; code: ErrorCode };

/**
 * Whether a device may be connected with a key whose secret has already been verified (SPEC section 2,
 * CONNACK 5 rows) — decided at CONNECT, and again for live sessions whenever the key or the device
 * changes in Redis.
 */
export function connectRight(key: Parsed<KeyRecord>, device: DeviceRead): ConnectRight {
  if (!key.ok) return { ok: false, code: 'KG_ERR_KEY_INVALID' };
  if (!key.value.active) return { ok: false, code: 'KG_ERR_KEY_INACTIVE' };
  if (!device.found) return { ok: false, code: 'KG_ERR_DEVICE_UNKNOWN' };
  if (!device.device.ok) return { ok: false, code: 'KG_ERR_DEVICE_INVALID' };
  const record = device.device.value;
  if (record.type === 'peripheral') return { ok: false, code: 'KG_ERR_PERIPHERAL_DIRECT' };
  if (!isInScope(key.value.scope, record.id, record.tags))
    return { ok: false, code: 'KG_ERR_DEVICE_OUT_OF_SCOPE' };
  return { ok: true, principal: { device: record, key: key.value } };
}
