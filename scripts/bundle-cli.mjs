// After `tsc`: bundle the `p2p` entry point with the commands in FAST and everything they import
// (node_modules included) into dist/src/cli/main.js + dist/src/cli/bundle/*.js, one chunk per
// lazily loaded command, so that a command loads a few files instead of hundreds (start-up time;
// see bench `startup-*`). Commands not in FAST (the daemons, anything new) stay external: main.js
// imports them from tsc's output beside it, exactly as without bundling.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const FAST = new Set(['get', 'ls', 'peers', 'status', 'trace', 'cancel', 'keygen', 'completion', 'args', 'common', 'get-ui']);
const root = fileURLToPath(new URL('..', import.meta.url));
const out = `${root}dist/src/cli`;

rmSync(`${out}/bundle`, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: { main: 'src/cli/main.ts' },
  outdir: out,
  chunkNames: 'bundle/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  keepNames: true,
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
  // CommonJS dependencies call require(): give every chunk a real one
  banner: { js: "import { createRequire as __p2pRequire } from 'node:module'; const require = __p2pRequire(import.meta.url);" },
  plugins: [
    {
      // msgpackr loads a native string extractor when present (detect-libc, node-gyp-build and a
      // .node file: ~10 ms of start-up); the CLI's messages are small, where it gains nothing.
      // The daemons (tsc's output, not this bundle) still load it.
      name: 'no-msgpackr-extract',
      setup(b) {
        b.onResolve({ filter: /^msgpackr-extract$/ }, () => ({ path: 'msgpackr-extract', namespace: 'stub' }));
        b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({ contents: 'module.exports = undefined;', loader: 'js' }));
      },
    },
    {
      // zod re-exports every locale (~60 languages) as `z.locales`; we only ever use English,
      // which zod sets itself from its own en.js (not through this index)
      name: 'zod-english-only',
      setup(b) {
        b.onLoad({ filter: /zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, () => ({ contents: "export { default as en } from './en.js';", loader: 'js', resolveDir: undefined }));
      },
    },
    {
      name: 'external-commands',
      setup(b) {
        // `import('./peer.js')` in main.ts: bundled when in FAST, else left to tsc's output
        b.onResolve({ filter: /^\.\/[\w-]+\.js$/ }, (args) => {
          if (!args.importer.endsWith(`src/cli/main.ts`)) return undefined;
          const name = args.path.slice(2, -3);
          return FAST.has(name) ? undefined : { path: args.path, external: true };
        });
      },
    },
  ],
});
