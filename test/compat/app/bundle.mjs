// Bundles one entry of the app: `node bundle.mjs <esbuild|webpack|rollup> <esm|cjs> <entry> <outfile>`.
// Run inside the app, so each bundler is the app's own install.
import { builtinModules } from 'node:module';
import { basename, dirname, resolve } from 'node:path';

const [bundler, format, entry, outfile] = process.argv.slice(2);
const input = resolve(entry);
const output = resolve(outfile);

// esbuild's ESM output keeps CommonJS packages' require() calls (Express's), which need a
// require function in an ES module: the usual createRequire banner.
const requireBanner =
  "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);";

if (bundler === 'esbuild') {
  const esbuild = await import('esbuild');
  await esbuild.build({
    entryPoints: [input],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format,
    outfile: output,
    banner: format === 'esm' ? { js: requireBanner } : {},
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
        optimization: { minimize: false },
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
