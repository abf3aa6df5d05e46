// Extracts the ```ts / ```js code blocks of the READMEs and type-checks them as a user's file
// would be: `tsc --strict`, lib checking on, against the built packages.
//
// A block that needs surrounding declarations (an `app`, a `kafka` client) gets them from an
// HTML comment right before it, invisible on GitHub and npm:
//
//   <!-- doc-test: prelude
//   import type { Kafka } from 'kafkajs';
//   declare const kafka: Kafka;
//   -->
//
// The prelude and the block's imports stay at the top of the module; the rest of the block runs
// inside an async function, so top-level `await` also compiles in a CommonJS (.cts) file.
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { packageDirs, repoRoot } from '../support/packages.js';

export interface CodeBlock {
  /** README path relative to the repository root. */
  readme: string;
  /** 1-based line of the block's first code line. */
  line: number;
  code: string;
  prelude: string;
}

export interface Flavour {
  name: string;
  /** Each block is compiled once per extension, in one program (nodenext: ESM .mts and CJS .cts). */
  extensions: ('.mts' | '.cts' | '.ts')[];
  options: ts.CompilerOptions;
}

const strict: ts.CompilerOptions = {
  strict: true,
  skipLibCheck: false,
  noEmit: true,
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2023.d.ts'],
  types: ['node'],
  esModuleInterop: true,
};

export const flavours: Flavour[] = [
  {
    name: 'module nodenext, as ESM (.mts) and as CommonJS (.cts)',
    extensions: ['.mts', '.cts'],
    options: {
      ...strict,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
    },
  },
  {
    name: 'moduleResolution bundler',
    extensions: ['.ts'],
    options: { ...strict, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler },
  },
];

export function readmes(): string[] {
  return [join(repoRoot, 'README.md'), ...packageDirs().map((dir) => join(dir, 'README.md'))];
}

const fence = /^```(\w*)\s*$/;
const preludeStart = '<!-- doc-test: prelude';

/** Every ts/js block of one README, each with the prelude comment that precedes it, if any. */
export function extractBlocks(file: string): CodeBlock[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const blocks: CodeBlock[] = [];
  let prelude: string[] | undefined;
  let pendingPrelude = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (prelude) {
      if (line.trim() === '-->') {
        pendingPrelude = prelude.join('\n');
        prelude = undefined;
      } else {
        prelude.push(line);
      }
      continue;
    }
    if (line.trim() === preludeStart) {
      prelude = [];
      continue;
    }
    const open = fence.exec(line);
    if (!open) {
      if (line.trim() !== '') pendingPrelude = '';
      continue;
    }
    const body: string[] = [];
    const start = i + 2;
    for (i++; i < lines.length && !(lines[i] ?? '').startsWith('```'); i++) body.push(lines[i] ?? '');
    if (['ts', 'typescript', 'js', 'javascript', 'mjs', 'cjs'].includes(open[1] ?? '')) {
      blocks.push({
        readme: relative(repoRoot, file),
        line: start,
        code: body.join('\n'),
        prelude: pendingPrelude,
      });
    }
    pendingPrelude = '';
  }
  return blocks;
}

/** The module a block becomes: imports first, then the prelude, then the block in an async function. */
export function moduleSource(block: CodeBlock): string {
  const imports: string[] = [];
  const declarations: string[] = [];
  const body: string[] = [];
  const split = (code: string, rest: string[]): void => {
    const source = ts.createSourceFile('block.ts', code, ts.ScriptTarget.ES2022, true);
    for (const statement of source.statements) {
      const text = code.slice(statement.getFullStart(), statement.getEnd());
      if (ts.isImportDeclaration(statement) || ts.isImportEqualsDeclaration(statement)) imports.push(text);
      else rest.push(text);
    }
  };
  split(block.prelude, declarations);
  split(block.code, body);
  return [
    ...imports,
    ...declarations,
    'export async function readmeBlock(): Promise<void> {',
    ...body,
    '}',
    '',
  ].join('\n');
}

export interface BlockError {
  block: CodeBlock;
  message: string;
}

/** Type-checks every block under one flavour; returns the errors, each naming its README block. */
export function checkBlocks(blocks: CodeBlock[], flavour: Flavour): BlockError[] {
  const dir = join(repoRoot, 'test', 'docs', '__readme_blocks__');
  const files = new Map<string, CodeBlock>();
  const sources = new Map<string, string>();
  blocks.forEach((block, index) => {
    for (const extension of flavour.extensions) {
      const name = join(dir, `block-${index}${extension}`);
      files.set(name, block);
      sources.set(name, moduleSource(block));
    }
  });
  const host = ts.createCompilerHost(flavour.options, true);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (name) => sources.get(name) ?? readFile(name);
  host.fileExists = (name) => sources.has(name) || fileExists(name);
  host.getSourceFile = (name, language, onError, create) => {
    const text = sources.get(name);
    return text === undefined
      ? getSourceFile(name, language, onError, create)
      : ts.createSourceFile(name, text, language);
  };
  const program = ts.createProgram([...files.keys()], flavour.options, host);
  const diagnostics = ts.getPreEmitDiagnostics(program);
  return diagnostics.map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    const file = diagnostic.file;
    const block = file ? files.get(file.fileName) : undefined;
    if (!file || !block) {
      const where = file ? `${relative(repoRoot, file.fileName)}: ` : '';
      return {
        block: { readme: '(outside the blocks)', line: 0, code: '', prelude: '' },
        message: where + message,
      };
    }
    const { line } = file.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
    const text = file.text.split('\n')[line]?.trim() ?? '';
    return {
      block,
      message: `(${file.fileName.slice(file.fileName.lastIndexOf('.'))}) ${message}\n    at: ${text}`,
    };
  });
}
