// @ts-check
/**
 * Production build of the plugin frontend: dist/module.js as an AMD module, the form Grafana
 * loads plugins in (what @grafana/create-plugin's webpack config emits). Grafana provides
 * React, @grafana/* and the other shared libraries at run time, so they stay external (the
 * same list as create-plugin's .config/bundler/externals.ts).
 *
 * Rollup bundles (Vite 8's Rolldown has no AMD output); TypeScript/JSX go through Vite's Oxc
 * transform and the bundle through Vite's Oxc minifier, so no second compiler is installed.
 *
 * Besides module.js the build writes the plugin's static files into dist/: plugin.json (with
 * %VERSION%, %TODAY% and %PLUGIN_ID% filled in), README.md, LICENSE, img/ and the repository's
 * dashboards/*.json as dist/dashboards/. It removes only what it writes: the backend's
 * dist/gpx_* binaries and go_plugin_build_manifest stay.
 *
 * `BUILD=development rollup -c` (npm run dev) skips minification.
 */
import fs from 'node:fs';
import path from 'node:path';

import { nodeResolve } from '@rollup/plugin-node-resolve';
import { minify, transformWithOxc } from 'vite';

const here = import.meta.dirname;
const repoRoot = path.resolve(here, '..');
const dist = path.join(here, 'dist');
const development = process.env.BUILD === 'development';
const target = 'es2022';

/** Modules Grafana supplies to plugins at run time (create-plugin's externals list). */
const EXTERNAL_MODULES = new Set([
  'lodash',
  'jquery',
  'moment',
  'slate',
  'emotion',
  '@emotion/react',
  '@emotion/css',
  'prismjs',
  'slate-plain-serializer',
  '@grafana/slate-react',
  'react',
  'react/jsx-runtime',
  'react/jsx-dev-runtime',
  'react-dom',
  'react-redux',
  'redux',
  'rxjs',
  'i18next',
  'react-router',
  'd3',
  'angular',
]);
const EXTERNAL_PATTERNS = [/^@grafana\/ui/i, /^@grafana\/runtime/i, /^@grafana\/data/i, /^rxjs\//];

/**
 * Whether an import is left to Grafana's module loader.
 * @param {string} id
 */
export function isExternal(id) {
  return EXTERNAL_MODULES.has(id) || EXTERNAL_PATTERNS.some((re) => re.test(id));
}

/** What the build writes into dist/ besides module.js(.map); the only things it deletes. */
const OWN_OUTPUTS = ['module.js', 'module.js.map', 'plugin.json', 'README.md', 'LICENSE', 'img', 'dashboards'];

/**
 * TypeScript and JSX (React's automatic runtime) to JavaScript, with Vite's Oxc transform.
 * @returns {import('rollup').Plugin}
 */
function oxcTypeScript() {
  return {
    name: 'oxc-typescript',
    async transform(code, id) {
      if (!/\.[cm]?tsx?$/.test(id)) {
        return null;
      }
      const out = await transformWithOxc(code, id, {
        lang: id.endsWith('x') ? 'tsx' : 'ts',
        jsx: { runtime: 'automatic', development: false },
        target,
        sourcemap: true,
      });
      return { code: out.code, map: /** @type {any} */ (out.map) };
    },
  };
}

/**
 * Minifies the bundle with Vite's Oxc minifier (after Rollup has written the AMD wrapper).
 * @returns {import('rollup').Plugin}
 */
function oxcMinify() {
  return {
    name: 'oxc-minify',
    async renderChunk(code, chunk) {
      const out = await minify(chunk.fileName, code, {
        compress: { target },
        mangle: true,
        sourcemap: true,
      });
      return { code: out.code, map: /** @type {any} */ (out.map) };
    },
  };
}

/**
 * Removes this build's previous outputs and emits the plugin's static files.
 * @returns {import('rollup').Plugin}
 */
function pluginFiles() {
  return {
    name: 'grafana-plugin-files',
    buildStart() {
      for (const name of OWN_OUTPUTS) {
        fs.rmSync(path.join(dist, name), { recursive: true, force: true });
      }
    },
    generateBundle() {
      const pluginJsonPath = path.join(here, 'plugin.json');
      if (!fs.existsSync(pluginJsonPath)) {
        this.error(`${pluginJsonPath} does not exist: Grafana loads no plugin without plugin.json`);
      }
      const pkg = JSON.parse(fs.readFileSync(path.join(here, 'package.json'), 'utf8'));
      const rawPluginJson = fs.readFileSync(pluginJsonPath, 'utf8');
      /** @type {any} */
      let plugin;
      try {
        plugin = JSON.parse(rawPluginJson);
      } catch (err) {
        this.error(`${pluginJsonPath} is not valid JSON: ${/** @type {Error} */ (err).message}`);
      }
      /** @param {string} text */
      const fillIn = (text) =>
        text
          .replace(/%VERSION%/g, pkg.version)
          .replace(/%TODAY%/g, new Date().toISOString().slice(0, 10))
          .replace(/%PLUGIN_ID%/g, plugin.id ?? '');

      /** @type {Set<string>} */
      const emitted = new Set(['module.js']);
      /** @param {string} fileName @param {string | Uint8Array} source */
      const emit = (fileName, source) => {
        this.emitFile({ type: 'asset', fileName, source });
        emitted.add(fileName);
      };

      emit('plugin.json', fillIn(rawPluginJson));
      const readme = path.join(here, 'README.md');
      if (fs.existsSync(readme)) {
        emit('README.md', fillIn(fs.readFileSync(readme, 'utf8')));
      }
      const license = path.join(repoRoot, 'LICENSE');
      if (fs.existsSync(license)) {
        emit('LICENSE', fs.readFileSync(license, 'utf8'));
      }
      for (const file of listFiles(path.join(here, 'img'))) {
        emit(`img/${file}`, fs.readFileSync(path.join(here, 'img', file)));
      }
      const dashboards = path.join(repoRoot, 'dashboards');
      for (const file of listFiles(dashboards).filter((f) => f.endsWith('.json') && !f.includes('/'))) {
        emit(`dashboards/${file}`, fs.readFileSync(path.join(dashboards, file), 'utf8'));
      }

      // Logos and screenshots must be in dist/ or Grafana shows broken images. Dashboards come
      // from the repository's dashboards/ folder, which may not have them yet: warn, so that a
      // missing dashboard is visible without failing the frontend build.
      /** @param {unknown} p */
      const isPath = (p) => typeof p === 'string' && p !== '';
      /** @param {string} p */
      const missing = (p) => !emitted.has(path.posix.normalize(p));
      const images = [
        plugin.info?.logos?.small,
        plugin.info?.logos?.large,
        ...(plugin.info?.screenshots ?? []).map((/** @type {any} */ s) => s?.path),
      ].filter(isPath);
      const missingImages = images.filter(missing);
      if (missingImages.length > 0) {
        this.error(`plugin.json refers to images the build does not produce: ${missingImages.join(', ')}`);
      }
      const included = (plugin.includes ?? []).map((/** @type {any} */ i) => i?.path).filter(isPath);
      const missingIncludes = included.filter(missing);
      if (missingIncludes.length > 0) {
        this.warn(
          `plugin.json includes files that are not in ../dashboards (Grafana will list them but fail to import them): ${missingIncludes.join(', ')}`
        );
      }
    },
  };
}

/**
 * Files under dir (relative paths with "/"), or none when dir does not exist.
 * @param {string} dir
 * @returns {string[]}
 */
function listFiles(dir) {
  if (!fs.existsSync(dir)) {
    return [];
  }
  return /** @type {string[]} */ (fs.readdirSync(dir, { recursive: true }))
    .map((f) => f.split(path.sep).join('/'))
    .filter((f) => fs.statSync(path.join(dir, f)).isFile())
    .sort();
}

/** @type {import('rollup').RollupOptions} */
export default {
  input: path.join(here, 'src', 'module.ts'),
  external: isExternal,
  plugins: [
    pluginFiles(),
    nodeResolve({ extensions: ['.ts', '.tsx', '.mjs', '.js'], browser: true }),
    oxcTypeScript(),
    ...(development ? [] : [oxcMinify()]),
  ],
  output: {
    dir: dist,
    entryFileNames: 'module.js',
    format: 'amd',
    sourcemap: true,
    interop: 'compat',
    generatedCode: 'es2015',
  },
  onwarn(warning, warn) {
    // An import that is neither bundled nor provided by Grafana would fail at load time.
    if (warning.code === 'UNRESOLVED_IMPORT') {
      throw new Error(`unresolved import ${warning.exporter} in ${warning.id}`);
    }
    warn(warning);
  },
};
