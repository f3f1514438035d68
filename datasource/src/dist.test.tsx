/**
 * Checks the built bundle the way Grafana loads it: dist/module.js is evaluated as an AMD module
 * whose dependencies are the real packages Grafana shares with plugins, and the plugin it
 * exports is used. Runs after `npm run build`, with PROVISIOND_DIST_TEST=1 (.ci/frontend.sh).
 */
import fs from 'node:fs';
import path from 'node:path';

import { DataSourcePlugin } from '@grafana/data';
import { render, screen } from '@testing-library/react';
import type { ComponentType } from 'react';
import { beforeAll, describe, expect, it } from 'vitest';

import { installBackendSrv, installTemplateSrv, PLUGIN_ID, resourceHandler } from './test/grafana';

const dist = path.resolve(import.meta.dirname, '..', 'dist');

/** The modules Grafana provides to plugins, as the bundle may request them. */
const PROVIDED: Record<string, () => Promise<unknown>> = {
  '@grafana/data': () => import('@grafana/data'),
  '@grafana/runtime': () => import('@grafana/runtime'),
  '@grafana/ui': () => import('@grafana/ui'),
  react: () => import('react'),
  'react/jsx-runtime': () => import('react/jsx-runtime'),
  'react-dom': () => import('react-dom'),
  rxjs: () => import('rxjs'),
};

interface Loaded {
  deps: string[];
  exports: Record<string, unknown>;
}

/** Evaluates module.js with an AMD define() that hands it the provided modules. */
async function loadAmd(code: string): Promise<Loaded> {
  let captured: { deps: string[]; factory: (...args: unknown[]) => unknown } | undefined;
  const define = (deps: string[], factory: (...args: unknown[]) => unknown) => {
    captured = { deps, factory };
  };
  (define as unknown as { amd: object }).amd = {};
  new Function('define', code)(define);
  if (!captured) {
    throw new Error('module.js did not call define()');
  }
  const exports: Record<string, unknown> = {};
  const args: unknown[] = [];
  for (const dep of captured.deps) {
    if (dep === 'exports') {
      args.push(exports);
    } else if (PROVIDED[dep]) {
      args.push(await PROVIDED[dep]());
    } else {
      throw new Error(`module.js depends on ${dep}, which Grafana does not provide`);
    }
  }
  const returned = captured.factory(...args);
  return { deps: captured.deps, exports: (returned as Record<string, unknown>) ?? exports };
}

describe.skipIf(!process.env.PROVISIOND_DIST_TEST)('dist/ as Grafana loads it', () => {
  let loaded: Loaded;
  let code: string;

  beforeAll(async () => {
    code = fs.readFileSync(path.join(dist, 'module.js'), 'utf8');
    loaded = await loadAmd(code);
    installTemplateSrv({});
    installBackendSrv(resourceHandler);
  });

  it('is an AMD module that depends only on modules Grafana provides', () => {
    expect(code.startsWith('define(')).toBe(true);
    expect(loaded.deps).toContain('@grafana/data');
    for (const dep of loaded.deps) {
      expect(dep === 'exports' || dep in PROVIDED, dep).toBe(true);
    }
  });

  it('exports a datasource plugin with its editors and variable support', () => {
    const plugin = loaded.exports.plugin as DataSourcePlugin<never>;
    expect(plugin).toBeInstanceOf(DataSourcePlugin);
    expect(plugin.components.ConfigEditor).toBeTypeOf('function');
    expect(plugin.components.QueryEditor).toBeTypeOf('function');

    const ds = new plugin.DataSourceClass({
      id: 1,
      uid: 'u',
      type: PLUGIN_ID,
      name: 'provisiond',
      jsonData: { apiUrl: 'http://p:8080' },
      meta: { id: PLUGIN_ID },
    } as unknown as never) as unknown as {
      variables?: { getType(): string; editor: unknown };
      filterQuery(q: object): boolean;
    };
    expect(ds.variables?.getType()).toBe('custom');
    expect(ds.variables?.editor).toBeTypeOf('function');
    expect(ds.filterQuery({ refId: 'A', queryType: 'history' })).toBe(false);
    expect(ds.filterQuery({ refId: 'A', queryType: 'history', identity: 'E1' })).toBe(true);
  });

  it('renders the bundled query editor', async () => {
    const plugin = loaded.exports.plugin as DataSourcePlugin<never>;
    const QueryEditor = plugin.components.QueryEditor as unknown as ComponentType<Record<string, unknown>>;
    const ds = new plugin.DataSourceClass({
      id: 1,
      uid: 'u',
      type: PLUGIN_ID,
      name: 'provisiond',
      jsonData: {},
      meta: { id: PLUGIN_ID },
    } as unknown as never);
    render(
      <QueryEditor
        query={{ refId: 'A', queryType: 'events' }}
        datasource={ds}
        onChange={() => {}}
        onRunQuery={() => {}}
      />
    );
    expect(screen.getByRole('combobox', { name: 'Query type' })).toHaveValue('Events');
    expect(screen.getByRole('combobox', { name: 'Identity' })).toBeInTheDocument();
  });

  it('ships plugin.json, its logos and the repository dashboards it includes', () => {
    const plugin = JSON.parse(fs.readFileSync(path.join(dist, 'plugin.json'), 'utf8'));
    expect(plugin.id).toBe(PLUGIN_ID);
    expect(JSON.stringify(plugin)).not.toMatch(/%(VERSION|TODAY|PLUGIN_ID)%/);
    for (const logo of [plugin.info?.logos?.small, plugin.info?.logos?.large]) {
      expect(fs.existsSync(path.join(dist, logo)), logo).toBe(true);
    }
    const repoDashboards = path.resolve(import.meta.dirname, '..', '..', 'dashboards');
    for (const include of plugin.includes ?? []) {
      const name = String(include.path).replace(/^dashboards\//, '');
      const inRepo = fs.existsSync(path.join(repoDashboards, name));
      expect(fs.existsSync(path.join(dist, include.path)), include.path).toBe(inRepo);
    }
  });
});
