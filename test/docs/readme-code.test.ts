// Every ts/js code block of the root README and each package README compiles as a user's code
// against the built packages, under `tsc --strict` with lib checking, in three set-ups. How
// blocks are extracted, and the prelude comment for blocks that need declarations around them:
// test/docs/readme-code.ts.
import { relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type CodeBlock,
  checkBlocks,
  extractBlocks,
  flavours,
  moduleSource,
  readmes,
} from './readme-code.js';
import { repoRoot } from '../support/packages.js';

const blocks: CodeBlock[] = readmes().flatMap(extractBlocks);

describe('README code blocks', () => {
  it('finds blocks in the root README and in every package README', () => {
    const withBlocks = new Set(blocks.map((block) => block.readme));
    for (const readme of readmes())
      expect(withBlocks, 'READMEs with a ts/js block').toContain(relative(repoRoot, readme));
  });

  it('moves imports to the top and the rest into an async function', () => {
    const source = moduleSource({
      readme: 'x',
      line: 1,
      prelude: "import type { Kafka } from 'kafkajs';\ndeclare const kafka: Kafka;",
      code: "import { traceProducer } from '@tracewire/kafkajs';\nawait traceProducer(kafka.producer()).connect();",
    });
    expect(source.indexOf("from '@tracewire/kafkajs'")).toBeLessThan(source.indexOf('declare const kafka'));
    expect(source.indexOf('declare const kafka')).toBeLessThan(source.indexOf('async function'));
    expect(source.indexOf('async function')).toBeLessThan(source.indexOf('await traceProducer'));
  });

  for (const flavour of flavours) {
    it(`compile with tsc --strict, ${flavour.name}`, () => {
      const errors = checkBlocks(blocks, flavour).map(
        ({ block, message }) => `${block.readme}:${block.line}: ${message}`,
      );
      expect(errors).toEqual([]);
    }, 120_000);
  }
});
