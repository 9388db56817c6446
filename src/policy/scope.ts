import type { Scope } from './restrictions.js';
import type { Tags } from './tags.js';

/** Whether a registered device (its ID and tags) is inside a key's scope. */
export function isInScope(scope: Scope, deviceId: string, tags: Tags): boolean {
  if (scope.unrestricted) return true;
  if (scope.deviceId === deviceId || scope.deviceIds.has(deviceId)) return true;
  for (const [key, values] of tags) {
    if (scope.anyValueTagKeys.has(key)) return true;
    const accepted = scope.tagValues.get(key);
    if (accepted === undefined) continue;
    for (const value of values) if (accepted.has(value)) return true;
  }
  return false;
}
