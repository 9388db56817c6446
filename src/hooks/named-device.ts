import { isValidIdentifier } from '../policy/identifiers.js';
import type { DeviceDirectory } from '../store/device-directory.js';

/**
 * The device ID a topic or filter names at the device level (`<root>/<id>/…`, or `+/<id>/…`), if any.
 * Only used on the asynchronous paths (publish, subscribe, will), never per delivery.
 */
export function namedDevice(root: string, topicOrFilter: string): string | undefined {
  const levels = topicOrFilter.split('/', 3);
  if (levels.length < 2 || (levels[0] !== root && levels[0] !== '+')) return undefined;
  const id = levels[1] as string;
  return isValidIdentifier(id) ? id : undefined;
}

/**
 * Before deciding on a topic that names a device the directory does not know (registered after the last
 * load, and never connected since), read it from Redis. A Redis failure propagates: the caller refuses.
 */
export async function learnNamedDevice(
  directory: DeviceDirectory,
  root: string,
  topicOrFilter: string,
): Promise<void> {
  const id = namedDevice(root, topicOrFilter);
  if (id !== undefined && directory.get(id) === undefined) await directory.refresh(id);
}
