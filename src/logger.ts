import { type DestinationStream, type Logger, pino } from 'pino';

/**
 * Structured logs (pino). keygate never passes a secret to the logger; the redaction below is a second
 * line of defence against a future mistake (a password field logged by accident prints `[redacted]`).
 */
export function createLogger(level = 'info', destination?: DestinationStream): Logger {
  return pino(
    {
      name: 'keygate',
      level,
      redact: {
        paths: [
          'password',
          'secret',
          '*.password',
          '*.secret',
          'packet.password',
          'req.headers.authorization',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
