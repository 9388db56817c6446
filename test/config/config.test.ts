import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

const emptyDir = () => mkdtempSync(join(tmpdir(), 'keygate-config-'));

function dirWithFile(content: string, name = 'config/keygate.json'): string {
  const dir = emptyDir();
  const path = join(dir, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content);
  return dir;
}

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({}, emptyDir());
    expect(config).toMatchObject({
      redisUrl: 'redis://127.0.0.1:6379',
      prefix: 'keygate:',
      topicRoot: 'losant',
      persistence: 'redis',
      mqttHost: '0.0.0.0',
      mqttPort: 1883,
      logLevel: 'info',
      authTimeoutMs: 2000,
      redisTimeoutMs: 500,
      notifications: 'on',
      revalidateMs: 15_000,
      banThreshold: 5,
      banMs: 30_000,
      banMaxMs: 3_600_000,
      banDelayMs: 1000,
      maxConnectBytes: 262_144,
      maxPacketBytes: 1_048_576,
      connectTimeoutMs: 10_000,
      maxPayloadBytes: 262_144,
      rateLimit: 0,
      rateWindowMs: 15_000,
      storeTimeoutMs: 5_000,
      credentialCacheMs: 86_400_000,
    });
    expect(config.credentialCacheKeyFile).toBeUndefined();
    expect(config.bcryptThreads).toBeGreaterThanOrEqual(1);
  });

  it('reads every documented environment variable', () => {
    const config = loadConfig(
      {
        REDIS_URL: 'redis://:pw@redis.example:6380/2',
        KEYGATE_PREFIX: 'kg:',
        KEYGATE_TOPIC_ROOT: 'things',
        MQTT_HOST: '127.0.0.1',
        MQTT_PORT: '1884',
        LOG_LEVEL: 'debug',
        KEYGATE_AUTH_TIMEOUT_MS: '3000',
        KEYGATE_REDIS_TIMEOUT_MS: '250',
        KEYGATE_BCRYPT_THREADS: '3',
        KEYGATE_NOTIFICATIONS: 'off',
        KEYGATE_REVALIDATE_MS: '60000',
        KEYGATE_BAN_THRESHOLD: '10',
        KEYGATE_BAN_MS: '1000',
        KEYGATE_BAN_MAX_MS: '8000',
        KEYGATE_MAX_CONNECT_BYTES: '4096',
        KEYGATE_MAX_PACKET_BYTES: '65536',
        KEYGATE_CONNECT_TIMEOUT_MS: '3000',
        KEYGATE_MAX_PAYLOAD_BYTES: '0',
        KEYGATE_RATE_LIMIT: '30',
        KEYGATE_RATE_WINDOW_MS: '1000',
        KEYGATE_STORE_TIMEOUT_MS: '800',
      },
      emptyDir(),
    );
    expect(config).toMatchObject({
      redisUrl: 'redis://:pw@redis.example:6380/2',
      prefix: 'kg:',
      topicRoot: 'things',
      mqttHost: '127.0.0.1',
      mqttPort: 1884,
      logLevel: 'debug',
      authTimeoutMs: 3000,
      redisTimeoutMs: 250,
      bcryptThreads: 3,
      notifications: 'off',
      revalidateMs: 60_000,
      banThreshold: 10,
      banMs: 1000,
      banMaxMs: 8000,
      maxConnectBytes: 4096,
      maxPacketBytes: 65_536,
      connectTimeoutMs: 3000,
      maxPayloadBytes: 0,
      rateLimit: 30,
      rateWindowMs: 1000,
      storeTimeoutMs: 800,
    });
  });

  it('checks the credential cache key file: readable, at least 32 bytes, and the cache on', () => {
    const dir = emptyDir();
    writeFileSync(join(dir, 'short.key'), 'x'.repeat(31));
    writeFileSync(join(dir, 'good.key'), 'x'.repeat(32));
    expect(() => loadConfig({ KEYGATE_CREDENTIAL_CACHE_KEY_FILE: 'none.key' }, dir)).toThrow(
      /KEYGATE_CREDENTIAL_CACHE_KEY_FILE: cannot read .*none\.key \(ENOENT\)/,
    );
    expect(() => loadConfig({ KEYGATE_CREDENTIAL_CACHE_KEY_FILE: 'short.key' }, dir)).toThrow(
      /must hold at least 32 random bytes/,
    );
    expect(() =>
      loadConfig({ KEYGATE_CREDENTIAL_CACHE_KEY_FILE: 'good.key', KEYGATE_CREDENTIAL_CACHE_MS: '0' }, dir),
    ).toThrow(/needs KEYGATE_CREDENTIAL_CACHE_MS > 0/);
    expect(loadConfig({ KEYGATE_CREDENTIAL_CACHE_KEY_FILE: 'good.key' }, dir).credentialCacheKeyFile).toBe(
      join(dir, 'good.key'),
    );
  });

  it('refuses a maximum ban shorter than the first ban', () => {
    expect(() => loadConfig({ KEYGATE_BAN_MS: '5000', KEYGATE_BAN_MAX_MS: '1000' }, emptyDir())).toThrow(
      /KEYGATE_BAN_MAX_MS: must be at least KEYGATE_BAN_MS/,
    );
  });

  it('reads config/keygate.json, and the environment wins over it', () => {
    const dir = dirWithFile(JSON.stringify({ mqttPort: 2000, prefix: 'file:' }));
    expect(loadConfig({}, dir)).toMatchObject({ mqttPort: 2000, prefix: 'file:' });
    expect(loadConfig({ MQTT_PORT: '3000' }, dir)).toMatchObject({ mqttPort: 3000, prefix: 'file:' });
  });

  it('reads the file named by KEYGATE_CONFIG', () => {
    const dir = dirWithFile(JSON.stringify({ topicRoot: 'fleet' }), 'elsewhere.json');
    expect(loadConfig({ KEYGATE_CONFIG: 'elsewhere.json' }, dir).topicRoot).toBe('fleet');
  });

  it.each([
    [{ MQTT_PORT: 'abc' }, /MQTT_PORT/],
    [{ MQTT_PORT: '70000' }, /MQTT_PORT/],
    [{ REDIS_URL: 'localhost:6379' }, /REDIS_URL: a redis:\/\/ or rediss:\/\/ URL/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    [{ KEYGATE_TOPIC_ROOT: 'a/b' }, /KEYGATE_TOPIC_ROOT/],
    [{ KEYGATE_TOPIC_ROOT: '$SYS' }, /KEYGATE_TOPIC_ROOT/],
    [{ KEYGATE_TOPIC_ROOT: '+' }, /KEYGATE_TOPIC_ROOT/],
    [{ KEYGATE_PERSISTENCE: 'disk' }, /KEYGATE_PERSISTENCE/],
    [{ KEYGATE_REDIS_TIMEOUT_MS: '0' }, /KEYGATE_REDIS_TIMEOUT_MS/],
    [{ KEYGATE_NOTIFICATIONS: 'yes' }, /KEYGATE_NOTIFICATIONS/],
    [{ KEYGATE_REVALIDATE_MS: '10' }, /KEYGATE_REVALIDATE_MS/],
    [{ KEYGATE_CONFIG: 'missing.json' }, /KEYGATE_CONFIG: no file/],
  ])('refuses %o naming the setting', (env, message) => {
    expect(() => loadConfig(env, emptyDir())).toThrow(message);
    try {
      loadConfig(env, emptyDir());
    } catch (err) {
      expect(err).toMatchObject({ code: 'KG_ERR_CONFIG_INVALID', exitCode: 78 });
    }
  });

  it.each([
    ['not JSON', '{', /not valid JSON/],
    ['an array', '[]', /must hold a JSON object/],
    ['an unknown field', '{"mqttport": 1}', /unknown setting "mqttport"/],
    ['a bad value', '{"mqttPort": "x"}', /"mqttPort" in the config file/],
  ])('refuses a config file with %s', (_name, content, message) => {
    expect(() => loadConfig({}, dirWithFile(content))).toThrow(message);
  });
});
