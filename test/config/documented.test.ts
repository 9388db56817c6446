import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { settings } from '../../src/config.js';

// Every setting is documented where a newcomer looks for it: one row of the README's settings table and
// one field of config/keygate.example.json. A setting added without its documentation fails here.
const readme = readFileSync('README.md', 'utf8');
const example = JSON.parse(readFileSync('config/keygate.example.json', 'utf8')) as Record<string, unknown>;
const optionalInExample = new Set([
  'credentialCacheKeyFile',
  'tlsCertFile',
  'tlsKeyFile',
  'tlsCaFile',
  'wsPort',
  'wssPort',
  'mqttsPort',
  'bcryptThreads',
]);

describe('settings documentation', () => {
  it.each(Object.entries(settings))(
    '%s has a README row with its variable and file field',
    (field, setting) => {
      expect(readme).toContain(`| \`${setting.env}\` | \`${field}\` |`);
    },
  );

  it.each(Object.entries(settings).filter(([field]) => !optionalInExample.has(field)))(
    '%s is in config/keygate.example.json with its default',
    (field, setting) => {
      expect(example[field]).toEqual(setting.default);
    },
  );

  it('the example file names only known settings', () => {
    for (const field of Object.keys(example)) expect(Object.hasOwn(settings, field)).toBe(true);
  });
});
