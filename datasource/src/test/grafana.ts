/**
 * Test doubles for the services Grafana injects into plugins at start-up. Grafana itself (where
 * the real TemplateSrv and BackendSrv live) is not an npm package, so tests install these with
 * the same setters Grafana uses (setTemplateSrv, setBackendSrv); everything else is the real
 * @grafana/runtime code, including DataSourceWithBackend's request building.
 */
import { type DataSourceInstanceSettings, type ScopedVars, type TypedVariableModel } from '@grafana/data';
import {
  type BackendSrv,
  type BackendSrvRequest,
  type FetchResponse,
  setBackendSrv,
  setTemplateSrv,
  type TemplateSrv,
} from '@grafana/runtime';
import { type Observable, of, throwError } from 'rxjs';

import { DataSource } from '../datasource';
import type { ProvisiondOptions } from '../types';

/** The plugin id (plugin.json "id"). */
export const PLUGIN_ID = 'provisiond-provisioning-datasource';

/**
 * A TemplateSrv over a fixed set of dashboard variables, interpolating like Grafana's for the
 * syntaxes $name, ${name}, ${name:format} and [[name]]: scoped variables win over dashboard
 * ones; a multi-value variable renders as {a,b} by default and a,b with the csv format; an
 * unknown variable is left as written.
 */
export class TestTemplateSrv implements TemplateSrv {
  constructor(private readonly vars: Record<string, string | string[]> = {}) {}

  getVariables(): TypedVariableModel[] {
    return Object.keys(this.vars).map((name) => ({ name, type: 'custom' }) as unknown as TypedVariableModel);
  }

  replace(target?: string, scopedVars?: ScopedVars, format?: string | Function): string {
    if (!target) {
      return target ?? '';
    }
    const pattern = /\$(\w+)|\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]/g;
    return target.replace(pattern, (match, plain, braced, fmt, bracketed) => {
      const name: string = plain ?? braced ?? bracketed;
      const scoped = scopedVars?.[name];
      const value = scoped !== undefined ? scoped.value : this.vars[name];
      if (value === undefined || value === null) {
        return match;
      }
      return render(value, typeof format === 'string' ? format : (fmt ?? 'glob'));
    });
  }

  containsTemplate(target?: string): boolean {
    return !!target && /\$\w+|\$\{\w+(:\w+)?\}|\[\[\w+\]\]/.test(target);
  }

  updateTimeRange(): void {}
}

function render(value: unknown, format: string): string {
  if (!Array.isArray(value)) {
    return String(value);
  }
  if (format === 'csv') {
    return value.join(',');
  }
  return value.length === 1 ? String(value[0]) : `{${value.join(',')}}`;
}

/** A request the plugin made through BackendSrv.fetch. */
export type RecordedRequest = BackendSrvRequest;

/** Answers one BackendSrv.fetch request: the response body, or an Error to fail with. */
export type FetchHandler = (request: BackendSrvRequest) => unknown;

/**
 * A BackendSrv that answers fetch() from a handler and records every request, standing in for
 * Grafana's HTTP API (/api/ds/query, /api/datasources/uid/…/resources/…).
 */
export class TestBackendSrv {
  readonly requests: RecordedRequest[] = [];

  constructor(private readonly handler: FetchHandler) {}

  fetch<T>(options: BackendSrvRequest): Observable<FetchResponse<T>> {
    this.requests.push(options);
    let data: unknown;
    try {
      data = this.handler(options);
    } catch (err) {
      return throwError(() => ({ status: 500, data: { message: String(err) }, config: options }));
    }
    if (data instanceof Error) {
      return throwError(() => ({ status: 502, data: { message: data.message }, config: options }));
    }
    return of({
      data: data as T,
      status: 200,
      statusText: 'OK',
      ok: true,
      headers: new Headers(),
      redirected: false,
      type: 'basic',
      url: options.url,
      config: options,
    });
  }
}

/** Installs a TestTemplateSrv with these dashboard variables and returns it. */
export function installTemplateSrv(vars: Record<string, string | string[]> = {}): TestTemplateSrv {
  const srv = new TestTemplateSrv(vars);
  setTemplateSrv(srv);
  return srv;
}

/** Installs a TestBackendSrv answering with handler and returns it. */
export function installBackendSrv(handler: FetchHandler): TestBackendSrv {
  const srv = new TestBackendSrv(handler);
  setBackendSrv(srv as unknown as BackendSrv);
  return srv;
}

/** The query string and path of a recorded request's URL, for assertions. */
export function resourcePath(request: RecordedRequest): string {
  return request.url.replace(/^.*\/resources\//, '');
}

/** A datasource instance as Grafana would construct it from saved settings. */
export function newDataSource(jsonData: Partial<ProvisiondOptions> = {}): DataSource {
  const settings = {
    id: 7,
    uid: 'provisiond-uid',
    type: PLUGIN_ID,
    name: 'provisiond',
    access: 'proxy',
    readOnly: false,
    jsonData: { apiUrl: 'http://provisiond:8080', ...jsonData },
    meta: { id: PLUGIN_ID, name: 'provisiond', type: 'datasource', info: {}, module: '', baseUrl: '' },
  } as unknown as DataSourceInstanceSettings<ProvisiondOptions>;
  return new DataSource(settings);
}

/** The backend resources the editors use, answering like datasource/pkg does. */
export function resourceHandler(request: BackendSrvRequest): unknown {
  const path = resourcePath(request);
  if (path === 'jobs') {
    return [
      { id: 'demo', name: 'Demo HR → SCIM' },
      { id: 'ldap', name: 'HR → LDAP' },
    ];
  }
  if (path === 'identities') {
    const search = String(request.params?.query ?? '').toLowerCase();
    return [
      { value: 'E0001', label: 'Alice Smith (E0001)', jobId: 'demo', identityType: 'User' },
      { value: 'E0002', label: 'Alan Turing (E0002)', jobId: 'demo', identityType: 'User' },
      { value: 'G0001', label: 'Sales (G0001)', jobId: 'ldap', identityType: 'Group' },
    ].filter((i) => i.label.toLowerCase().includes(search));
  }
  return new Error(`no test resource ${path}`);
}
