import { readFileSync } from 'node:fs';
import { VERSION } from '@tracewire/platformatic-kafka';
import { expect, it } from 'vitest';

it("exports package.json's version", () => {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  expect(VERSION).toBe(manifest.version);
});
