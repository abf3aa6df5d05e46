// Bundles one entry of the app: `node bundle.mjs <esbuild|webpack|rollup> <esm|cjs> <entry> <outfile>`.
// Run inside the app, so each bundler is the app's own install.
import { builtinModules } from 'node:module';
import { basename, dirname, resolve } from 'node:path';

const [bundler, format, entry, outfile] = process.argv.slice(2);
/** Optional native addons of the app's dependencies: bundlers cannot inline a `.node` file. */
const NATIVE_ADDONS = ['@node-rs/crc32', 'kerberos', 'lz4-napi', 'snappy'];
const input = resolve(entry);
const output = resolve(outfile);

// esbuild's ESM output keeps CommonJS packages' require() calls (Express's), which need a
// require function in an ES module: the usual createRequire banner, under a name no bundled
// module declares (@platformatic/kafka imports createRequire itself).
const requireBanner =
  "import { createRequire as __bannerRequire } from 'node:module'; const require = __bannerRequire(import.meta.url);";
// ES modules bundled into CommonJS (@platformatic/kafka calls createRequire(import.meta.url)):
// esbuild leaves import.meta empty there, so it is defined from the bundle's own file name.
const importMetaBanner = "const __importMetaUrl = require('node:url').pathToFileURL(__filename).href;";
// @platformatic/wasm-utils reads dist/native.wasm next to itself, which is not in a bundle; its
// `/bundled` entry inlines the module, as its README advises for bundlers.
const ALIASES = { '@platformatic/wasm-utils': '@platformatic/wasm-utils/bundled' };

if (bundler === 'esbuild') {
  const esbuild = await import('esbuild');
  await esbuild.build({
    entryPoints: [input],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format,
    outfile: output,
    banner: { js: format === 'esm' ? requireBanner : importMetaBanner },
    define: format === 'esm' ? {} : { 'import.meta.url': '__importMetaUrl' },
    alias: ALIASES,
    logLevel: 'error',
  });
} else if (bundler === 'webpack') {
  const { default: webpack } = await import('webpack');
  const stats = await new Promise((done, fail) =>
    webpack(
      {
        mode: 'none',
        target: 'node',
        entry: input,
        output: {
          path: dirname(output),
          filename: basename(output),
          library: { type: format === 'esm' ? 'module' : 'commonjs2' },
          chunkFormat: format === 'esm' ? 'module' : 'commonjs',
        },
        experiments: format === 'esm' ? { outputModule: true } : {},
        resolve: { alias: { '@platformatic/wasm-utils$': ALIASES['@platformatic/wasm-utils'] } },
        optimization: { minimize: false },
        // Native addons stay out of the bundle, as webpack users do (@platformatic/kafka's optional
        // CRC32 addon; the client falls back to WebAssembly without it).
        externalsType: 'node-commonjs',
        externals: NATIVE_ADDONS,
        infrastructureLogging: { level: 'error' },
      },
      (error, result) => (error ? fail(error) : done(result)),
    ),
  );
  if (stats.hasErrors()) throw new Error(stats.toString({ all: false, errors: true }));
} else if (bundler === 'rollup') {
  const { rollup } = await import('rollup');
  const { default: nodeResolve } = await import('@rollup/plugin-node-resolve');
  const { default: commonjs } = await import('@rollup/plugin-commonjs');
  const { default: json } = await import('@rollup/plugin-json');
  const bundle = await rollup({
    input,
    plugins: [
      {
        name: 'aliases',
        resolveId(source, importer) {
          return source in ALIASES ? this.resolve(ALIASES[source], importer, { skipSelf: true }) : null;
        },
      },
      nodeResolve({ preferBuiltins: true, exportConditions: ['node'] }),
      commonjs({ ignoreDynamicRequires: true, transformMixedEsModules: true }),
      json(),
    ],
    external: (id) => id.startsWith('node:') || builtinModules.includes(id),
    onwarn: () => {},
  });
  await bundle.write({ file: output, format, inlineDynamicImports: true });
  await bundle.close();
} else {
  throw new Error(`unknown bundler ${bundler}`);
}
