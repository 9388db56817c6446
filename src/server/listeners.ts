import { once } from 'node:events';
import { type AddressInfo, createServer, type Server } from 'node:net';
import type { Aedes } from 'aedes';
import type { Logger } from 'pino';
import type { Config } from '../config.js';

/** The addresses of the listeners that are up (ports are the real ones when 0 was asked for). */
export interface ListenerAddresses {
  readonly mqtt: AddressInfo;
}

export interface Listeners {
  readonly addresses: ListenerAddresses;
  /** Stops accepting connections; resolves when every listener has closed (after the broker closed its clients). */
  close(): Promise<void>;
}

async function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  server.listen(port, host);
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err))]);
  return server.address() as AddressInfo;
}

/** Starts the MQTT listeners in front of `broker`. */
export async function startListeners(broker: Aedes, config: Config, logger: Logger): Promise<Listeners> {
  const tcp = createServer(broker.handle);
  const mqtt = await listen(tcp, config.mqttPort, config.mqttHost);
  logger.info(
    { host: mqtt.address, port: mqtt.port, topicRoot: config.topicRoot, prefix: config.prefix },
    'MQTT listener up',
  );
  const servers = [tcp];
  return {
    addresses: { mqtt },
    close: () =>
      Promise.all(
        servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
      ).then(() => {}),
  };
}
