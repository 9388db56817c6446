import { Argument, type Command } from 'commander';
import { type ErrorCode, ExitCode, errorCatalogue } from '../../errors.js';
import {
  classifyTopic,
  type Decision,
  type DeviceLookup,
  decidePublish,
  decideSubscribe,
  type Principal,
} from '../../policy/authorization.js';
import { connectRight, type DeviceRead } from '../../policy/connect-right.js';
import { isValidIdentifier } from '../../policy/identifiers.js';
import type { DeviceRecord, KeyRecord } from '../../policy/model.js';
import type { Parsed } from '../../policy/tags.js';
import type { RawRecord } from '../../store/admin-store.js';
import { parseDeviceRecord, parseKeyRecord, parseSecretHash } from '../../store/records.js';
import type { CliContext } from '../context.js';
import { printable } from '../fields.js';
import { requireIdentifier, writeJson } from '../output.js';

type Action = 'pub' | 'sub';

interface Verdict {
  allowed: boolean;
  /** The rule (publish/subscribe) or error code (connect) that decided. */
  rule: string;
  reason: string;
}

interface Explanation {
  device: string;
  key: string;
  action: 'publish' | 'subscribe';
  topic: string;
  topicRoot: string;
  /** Could the device CONNECT with this key (the secret is not checked)? */
  connect: Verdict & { connack: number };
  /** The publish or subscribe decision; null when a record is missing or unparseable. */
  decision: Verdict | null;
  /** Both allowed: what the exit code says (0 allowed, 2 refused). */
  allowed: boolean;
}

/** Device IDs the decision may look up: the topic's device level (and the second level of a filter). */
function namedDevices(root: string, topic: string): string[] {
  const kind = classifyTopic(root, topic);
  const ids = new Set<string>();
  if (typeof kind === 'object') ids.add(kind.deviceId);
  const second = topic.split('/')[1];
  if (second !== undefined && isValidIdentifier(second)) ids.add(second);
  return [...ids];
}

function deviceRead(id: string, record: RawRecord): DeviceRead {
  if (record.state === 'missing') return { found: false };
  if (record.state === 'wrongtype') return { found: true, device: { ok: false, problem: 'not a hash' } };
  return { found: true, device: parseDeviceRecord(id, record.hash) };
}

function connectVerdict(
  key: string,
  device: string,
  keyRaw: RawRecord,
  keyRecord: Parsed<KeyRecord>,
  read: DeviceRead,
): Explanation['connect'] {
  const refuse = (code: ErrorCode, why: string) => {
    const entry = errorCatalogue[code] as { connack?: number };
    const connack = entry.connack ?? 5;
    return { allowed: false, rule: code, connack, reason: `${why}; CONNACK ${connack}` };
  };
  if (keyRaw.state === 'missing') return refuse('KG_ERR_BAD_CREDENTIALS', `no access key ${key}`);
  if (keyRaw.state === 'wrongtype') {
    return refuse('KG_ERR_BAD_CREDENTIALS', `the Redis key of access key ${key} is not a hash`);
  }
  const secret = parseSecretHash(keyRaw.hash);
  if (!secret.ok) return refuse('KG_ERR_BAD_CREDENTIALS', `access key ${key}: ${secret.problem}`);
  const right = connectRight(keyRecord, read);
  if (right.ok) {
    return {
      allowed: true,
      rule: 'accepted',
      connack: 0,
      reason: `key ${key} is active; device ${device} is registered, not a peripheral, and in the key's scope; CONNACK 0 if the secret is right, which is not checked here`,
    };
  }
  const why: Partial<Record<ErrorCode, string>> = {
    KG_ERR_KEY_INVALID: `access key ${key} is malformed: ${keyRecord.ok ? '' : keyRecord.problem}`,
    KG_ERR_KEY_INACTIVE: `access key ${key} is inactive`,
    KG_ERR_DEVICE_UNKNOWN: `device ${device} is not registered`,
    KG_ERR_DEVICE_INVALID: `device ${device} is malformed: ${read.found && !read.device.ok ? read.device.problem : ''}`,
    KG_ERR_PERIPHERAL_DIRECT: `device ${device} is a peripheral: it connects through its gateway`,
    KG_ERR_DEVICE_OUT_OF_SCOPE: `device ${device} is not in the scope of key ${key}`,
  };
  return refuse(right.code, why[right.code] ?? errorCatalogue[right.code].message);
}

/** A sentence saying why `decision` was made; `x` is the device the topic names, if any. */
function reasonFor(
  decision: Decision,
  action: Action,
  principal: Principal,
  devices: DeviceLookup,
  root: string,
  topic: string,
  keyId: string,
): string {
  const d = principal.device.id;
  const kind = classifyTopic(root, topic);
  const second = topic.split('/')[1] ?? '';
  const x = typeof kind === 'object' ? kind.deviceId : second;
  const list = action === 'pub' ? 'pubTopics' : 'subTopics';
  const mode = principal.key.topicFilter;
  switch (decision.rule) {
    case 'own-device':
      return `${topic} is below ${root}/${d}/, the device's own topics`;
    case 'gateway-peripheral':
      return `${x} is a peripheral of gateway ${d} and in the scope of key ${keyId}`;
    case 'scope-state-command':
      return `${x} is in the scope of key ${keyId}, whose devices may watch each other's state and command topics`;
    case 'backend-command':
      return `key ${keyId}'s publish rules allow ${topic} with topicFilter ${mode}, and ${x} is in its scope`;
    case 'wildcard-checked-per-delivery':
      return `the filter can match topics ${d} may receive; every message through it is then checked one by one`;
    case 'custom-all':
      return `${topic} is a custom topic and key ${keyId} has topicFilter all`;
    case 'custom-allow-list':
      return `${topic} is a custom topic matching key ${keyId}'s ${list}, with topicFilter allow`;
    case 'custom-deny-list':
      return `${topic} is a custom topic not matching key ${keyId}'s ${list}, with topicFilter deny`;
    case 'invalid':
      return action === 'pub'
        ? `${topic} is not a valid topic name: a wildcard, NUL, or too long`
        : `${topic} is not a valid topic filter: a misplaced wildcard, NUL, or too long`;
    case 'reserved':
      return "topics starting with $, such as $SYS/... and $share/..., are the broker's";
    case 'not-a-device-topic':
      return `${topic} is under ${root}/ but not ${root}/<deviceId>/<something>`;
    case 'not-controlled': {
      const what = `${x} is neither ${d} nor a peripheral that ${d} controls`;
      if (action === 'pub') {
        return kind !== 'custom' && typeof kind === 'object' && kind.suffix === 'command'
          ? `${what}, and key ${keyId}'s publish rules, topicFilter ${mode}, do not allow sending it commands`
          : `${what}; only its command topic may be published to by a backend key`;
      }
      return `${what}; of other devices only state and command topics may be watched`;
    }
    case 'out-of-scope':
      return devices(x) === undefined
        ? `${x} is not a registered device`
        : `${x} is not in the scope of key ${keyId}`;
    case 'custom-none':
      return `${topic} is a custom topic and key ${keyId} has topicFilter none, the default: no custom topics`;
    case 'custom-not-in-allow-list':
      return `${topic} is a custom topic not matching key ${keyId}'s ${list}, with topicFilter allow`;
    case 'custom-in-deny-list':
      return `${topic} is a custom topic matching key ${keyId}'s ${list}, with topicFilter deny`;
    case 'matches-nothing-permitted':
      return `the filter matches no topic ${d} may receive`;
    default:
      return decision.rule;
  }
}

function line(label: string, verdict: Verdict): string {
  return `${label}: ${verdict.allowed ? 'allowed' : 'refused'}: ${verdict.rule} (${printable(verdict.reason)})\n`;
}

/** `keygate explain <device> <key> <pub|sub> <topic>`: why the broker would allow or refuse it. */
export function registerExplain(program: Command, ctx: CliContext): void {
  program
    .command('explain')
    .summary('explain why a device with a key may or may not publish or subscribe to a topic')
    .description(
      `Read the key and the devices from Redis and tell whether <device> could CONNECT with <key> (the secret is not checked) and whether it may publish or subscribe to <topic>, with the broker's own decision functions and the name of the rule that decided. Exit ${ExitCode.OK} when both are allowed, ${ExitCode.REFUSED} when either is refused. Device topics are under KEYGATE_TOPIC_ROOT (default losant).`,
    )
    .argument('<device>', 'the connecting device (its MQTT client ID)')
    .argument('<key>', 'the access key it connects with')
    .addArgument(new Argument('<action>', 'pub or sub').choices(['pub', 'sub']))
    .argument('<topic>', 'a topic name (pub) or a topic filter (sub)')
    .option('--json', 'print the explanation as JSON')
    .addHelpText(
      'after',
      `
Examples:
  keygate explain thermo-2 k-123 sub losant/thermo-1/state
  keygate explain backend-1 k-backend pub losant/thermo-1/command --json`,
    )
    .action(
      async (device: string, key: string, action: Action, topic: string, options: { json?: boolean }) => {
        requireIdentifier(device, 'device ID');
        requireIdentifier(key, 'access key');
        const root = ctx.config().topicRoot;
        const store = await ctx.store();
        const ids = [device, ...namedDevices(root, topic).filter((id) => id !== device)];
        const [keyRaw, deviceRaws] = await Promise.all([
          store.read('key', key),
          store.readMany('device', ids),
        ]);
        const keyRecord: Parsed<KeyRecord> =
          keyRaw.state === 'found'
            ? parseKeyRecord(keyRaw.hash)
            : { ok: false, problem: keyRaw.state === 'wrongtype' ? 'not a hash' : 'missing' };
        const records = new Map<string, DeviceRecord>();
        ids.forEach((id, i) => {
          const read = deviceRead(id, deviceRaws[i] as RawRecord);
          if (read.found && read.device.ok) records.set(id, read.device.value);
        });
        const devices: DeviceLookup = (id) => records.get(id);
        const read = deviceRead(device, deviceRaws[0] as RawRecord);
        const connect = connectVerdict(key, device, keyRaw, keyRecord, read);

        let decision: Verdict | null = null;
        const self = records.get(device);
        if (keyRecord.ok && self !== undefined) {
          const principal: Principal = { device: self, key: keyRecord.value };
          const decided =
            action === 'pub'
              ? decidePublish(principal, devices, root, topic)
              : decideSubscribe(principal, devices, root, topic);
          decision = {
            allowed: decided.allowed,
            rule: decided.rule,
            reason: reasonFor(decided, action, principal, devices, root, topic, key),
          };
        }
        const allowed = connect.allowed && decision?.allowed === true;
        ctx.exitCode = allowed ? ExitCode.OK : ExitCode.REFUSED;
        const verb = action === 'pub' ? 'publish' : 'subscribe';
        if (options.json) {
          const explanation: Explanation = {
            device,
            key,
            action: verb,
            topic,
            topicRoot: root,
            connect,
            decision,
            allowed,
          };
          writeJson(ctx.io, explanation);
          return;
        }
        const out = ctx.io.stdout;
        out.write(line('connect', connect));
        if (decision === null) {
          out.write(
            `${verb} ${printable(topic)}: refused (cannot be decided: the key or the device is missing or malformed)\n`,
          );
        } else {
          out.write(line(`${verb} ${printable(topic)}`, decision));
        }
        if (connect.allowed !== (decision?.allowed === true)) {
          out.write(
            connect.allowed
              ? `verdict: refused (${device} may connect with ${key}, but not ${verb} ${printable(topic)})\n`
              : `verdict: refused (${device} cannot connect with ${key} at all)\n`,
          );
        }
      },
    );
}
