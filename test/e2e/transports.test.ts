import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { IClientOptions } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import {
  collect,
  connackOf,
  connect,
  Seeder,
  startTestBroker,
  subackCodes,
  type TestBroker,
  uniquePrefix,
  waitFor,
} from '../support/harness.js';
import { createTestPki, type TestPki } from '../support/pki.js';

const SECRET = `s-${randomBytes(8).toString('hex')}`;
const KEY = 'transport-key';

let pki: TestPki;

beforeAll(() => {
  pki = createTestPki();
});

afterAll(() => {
  pki?.remove();
});

type Transport = 'mqtt' | 'mqtts' | 'ws' | 'wss';
const TRANSPORTS: readonly Transport[] = ['mqtt', 'mqtts', 'ws', 'wss'];

/** Resolves once the broker is ready (its Redis connection is up). */
async function ready(broker: TestBroker): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!broker.running.readiness().ready) {
    if (Date.now() > deadline) throw new Error('broker never became ready');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** mqtt.js options reaching `broker` over `transport` (the test CA trusted for the TLS ones). */
function over(broker: TestBroker, transport: Transport, extra: IClientOptions = {}): IClientOptions {
  const addresses = broker.running.listeners;
  const port = addresses[transport]?.port;
  if (port === undefined) throw new Error(`no ${transport} listener`);
  const tls = transport === 'mqtts' || transport === 'wss' ? { ca: pki.read(pki.caCert) } : {};
  const ws = transport === 'ws' || transport === 'wss' ? { path: '/mqtt' } : {};
  return { protocol: transport, port, ...tls, ...ws, ...extra };
}

describe('MQTT over TCP, TLS, WebSocket and secure WebSocket', () => {
  let broker: TestBroker;
  let seed: Seeder;

  beforeAll(async () => {
    const prefix = uniquePrefix();
    seed = new Seeder(prefix);
    for (const transport of TRANSPORTS) {
      await seed.device(`${transport}-pub`);
      await seed.device(`${transport}-sub`);
    }
    await seed.key(KEY, SECRET);
    broker = await startTestBroker({
      prefix,
      tlsCertFile: pki.serverCert,
      tlsKeyFile: pki.serverKey,
      wsPort: 0,
      wssPort: 0,
    });
    await ready(broker);
  });

  afterAll(async () => {
    await broker?.close();
    await seed?.close();
  });

  it('every listener is up, on its own port', () => {
    const { mqtt, mqtts, ws, wss } = broker.running.listeners;
    const ports = [mqtt, mqtts, ws, wss].map((address) => address?.port);
    for (const port of ports) expect(port).toBeGreaterThan(0);
    expect(new Set(ports).size).toBe(4);
  });

  it.each(TRANSPORTS)('%s: CONNACK 0 with good credentials, 4 with a bad secret', async (transport) => {
    const id = `${transport}-pub`;
    expect(
      await connackOf(0, over(broker, transport, { clientId: id, username: KEY, password: SECRET })),
    ).toBe(0);
    expect(
      await connackOf(0, over(broker, transport, { clientId: id, username: KEY, password: 'nope' })),
    ).toBe(4);
  });

  it.each(TRANSPORTS)(
    '%s: a publish/subscribe round trip, with the same authorization',
    async (transport) => {
      const login = { username: KEY, password: SECRET };
      const sub = await connect(0, over(broker, transport, { clientId: `${transport}-sub`, ...login }));
      const pub = await connect(0, over(broker, transport, { clientId: `${transport}-pub`, ...login }));
      try {
        expect(sub.returnCode).toBe(0);
        expect(pub.returnCode).toBe(0);
        const received = collect(sub.client);
        // A device topic in scope is granted; a reserved one is refused, as on every transport.
        expect(await subackCodes(sub.client, [`losant/${transport}-pub/state`, '$SYS/#'])).toEqual([0, 0x80]);
        await pub.client.publishAsync(`losant/${transport}-pub/state`, `hello over ${transport}`);
        await waitFor(received, `losant/${transport}-pub/state hello over ${transport}`);
      } finally {
        sub.client.end(true);
        pub.client.end(true);
      }
    },
  );

  it.each(['ws', 'wss'] as const)('%s: only /mqtt is served; other paths are refused', async (transport) => {
    const options = over(broker, transport, {
      clientId: `${transport}-pub`,
      username: KEY,
      password: SECRET,
    });
    expect(await connackOf(0, { ...options, path: '/other' })).toBeUndefined();
    expect(await connackOf(0, { ...options, path: '/' })).toBeUndefined();
    // A plain HTTP request, on any path, is a 404.
    const port = broker.running.listeners[transport]?.port as number;
    const request = transport === 'ws' ? httpRequest : httpsRequest;
    for (const path of ['/mqtt', '/other']) {
      const status = await new Promise<number | undefined>((resolve, reject) => {
        request({ host: '127.0.0.1', port, path, ca: pki.read(pki.caCert) }, (res) => {
          res.resume();
          resolve(res.statusCode);
        })
          .on('error', reject)
          .end();
      });
      expect(status).toBe(404);
    }
  });

  it('plain MQTT on the TLS port gets no CONNACK', async () => {
    const port = broker.running.listeners.mqtts?.port as number;
    const code = await connackOf(port, {
      clientId: 'mqtt-pub',
      username: KEY,
      password: SECRET,
      connectTimeout: 1500,
    });
    expect(code).toBeUndefined();
  });

  it('a refused CONNECT over WebSocket is logged with the client address, never the secret', async () => {
    const options = over(broker, 'ws', { clientId: 'ws-sub', username: KEY, password: 'wrong-ws-secret' });
    expect(await connackOf(0, options)).toBe(4);
    const refusal = broker.logs
      .records()
      .find(
        (record) =>
          record.deviceId === 'ws-sub' &&
          String(record.msg).startsWith('CONNECT refused') &&
          record.code === 'KG_ERR_BAD_CREDENTIALS',
      );
    expect(refusal?.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(broker.logs.text()).not.toContain('wrong-ws-secret');
    expect(broker.logs.text()).not.toContain(SECRET);
  });
});

describe('client certificates (TLS_CA_FILE)', () => {
  let broker: TestBroker;
  let seed: Seeder;
  const login = { clientId: 'cert-dev', username: KEY, password: SECRET };

  beforeAll(async () => {
    const prefix = uniquePrefix();
    seed = new Seeder(prefix);
    await seed.device('cert-dev');
    await seed.key(KEY, SECRET);
    broker = await startTestBroker({
      prefix,
      tlsCertFile: pki.serverCert,
      tlsKeyFile: pki.serverKey,
      tlsCaFile: pki.caCert,
      wssPort: 0,
    });
    await ready(broker);
  });

  afterAll(async () => {
    await broker?.close();
    await seed?.close();
  });

  it.each(['mqtts', 'wss'] as const)('%s: a client without a certificate is refused', async (transport) => {
    expect(await connackOf(0, over(broker, transport, login))).toBeUndefined();
  });

  it.each(['mqtts', 'wss'] as const)(
    '%s: a client certificate from another CA is refused',
    async (transport) => {
      const options = over(broker, transport, {
        ...login,
        cert: pki.read(pki.otherCaCert),
        key: pki.read(pki.otherCaKey),
      });
      expect(await connackOf(0, options)).toBeUndefined();
    },
  );

  it.each(['mqtts', 'wss'] as const)(
    '%s: a client with a certificate of the CA still needs its access key',
    async (transport) => {
      const cert = { cert: pki.read(pki.clientCert), key: pki.read(pki.clientKey) };
      expect(await connackOf(0, over(broker, transport, { ...login, ...cert }))).toBe(0);
      expect(await connackOf(0, over(broker, transport, { ...login, ...cert, password: 'bad' }))).toBe(4);
    },
  );

  it('the TCP listener is unaffected (no client certificate there)', async () => {
    expect(await connackOf(broker.port, login)).toBe(0);
  });
});

describe('listener settings are checked at start', () => {
  const dir = () => pki.dir;

  it('TLS on: MQTTS_PORT 8883 by default; WS_PORT and WSS_PORT off; HTTP_PORT 9102', () => {
    const config = loadConfig({ TLS_CERT_FILE: pki.serverCert, TLS_KEY_FILE: pki.serverKey }, dir());
    expect(config).toMatchObject({ mqttsPort: 8883, wsPort: undefined, wssPort: undefined, httpPort: 9102 });
    expect(loadConfig({ WS_PORT: '8080' }, dir()).wsPort).toBe(8080);
    expect(loadConfig({ WS_PORT: 'off' }, dir()).wsPort).toBeUndefined();
    expect(loadConfig({ WS_PORT: '' }, dir()).wsPort).toBeUndefined();
  });

  it('names the config file field when the value came from there', () => {
    writeFileSync(join(pki.dir, 'wss.json'), JSON.stringify({ wssPort: 8884 }));
    expect(() => loadConfig({ KEYGATE_CONFIG: 'wss.json' }, dir())).toThrow(
      /^invalid configuration: "wssPort" in the config file: needs TLS_CERT_FILE and TLS_KEY_FILE$/,
    );
    expect(() => loadConfig({ MQTT_PORT: '9102' }, dir())).toThrow(
      /HTTP_PORT: port 9102 is already MQTT_PORT's/,
    );
  });

  it('relative TLS paths are resolved against the working directory', () => {
    const config = loadConfig({ TLS_CERT_FILE: 'server.crt', TLS_KEY_FILE: 'server.key' }, dir());
    expect(config.tlsCertFile).toBe(pki.serverCert);
  });

  it.each([
    [{ MQTTS_PORT: '8883' }, /^invalid configuration: MQTTS_PORT: needs TLS_CERT_FILE and TLS_KEY_FILE$/],
    [{ WSS_PORT: '8884' }, /^invalid configuration: WSS_PORT: needs TLS_CERT_FILE and TLS_KEY_FILE$/],
    [{ TLS_CERT_FILE: 'server.crt' }, /TLS_CERT_FILE: needs TLS_KEY_FILE/],
    [{ TLS_KEY_FILE: 'server.key' }, /TLS_KEY_FILE: needs TLS_CERT_FILE/],
    [
      { TLS_CERT_FILE: 'missing.crt', TLS_KEY_FILE: 'server.key' },
      /TLS_CERT_FILE: cannot read .*missing\.crt \(ENOENT\)/,
    ],
    [
      { TLS_CERT_FILE: 'server.key', TLS_KEY_FILE: 'server.key' },
      /TLS_CERT_FILE: .* does not hold a PEM certificate/,
    ],
    [
      { TLS_CERT_FILE: 'server.crt', TLS_KEY_FILE: 'client.key' },
      /TLS_KEY_FILE: .* is not the private key of TLS_CERT_FILE/,
    ],
    [
      { TLS_CERT_FILE: 'server.crt', TLS_KEY_FILE: 'server.key', TLS_CA_FILE: 'server.csr' },
      /TLS_CA_FILE: .* does not hold a PEM CA certificate/,
    ],
    [{ TLS_CA_FILE: 'ca.crt' }, /TLS_CA_FILE: needs TLS_CERT_FILE and TLS_KEY_FILE too/],
    [{ WS_PORT: 'eighty' }, /WS_PORT/],
    [{ HTTP_PORT: '70000' }, /HTTP_PORT/],
    [{ WS_PORT: '1883' }, /WS_PORT: port 1883 is already MQTT_PORT's/],
    [{ HTTP_PORT: '1883' }, /HTTP_PORT: port 1883 is already MQTT_PORT's/],
  ])('refuses %o with one line naming the setting', (env, message) => {
    let error: unknown;
    try {
      loadConfig(env, dir());
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: 'KG_ERR_CONFIG_INVALID', exitCode: 78 });
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });
});
