import {
  CoreApp,
  createDataFrame,
  dataFrameToJSON,
  type DataQueryRequest,
  type DataQueryResponse,
  dateTime,
  FieldType,
  type ScopedVars,
} from '@grafana/data';
import { lastValueFrom } from 'rxjs';
import { beforeEach, describe, expect, it } from 'vitest';

import { interpolateQuery, validateQuery } from './datasource';
import {
  installBackendSrv,
  installTemplateSrv,
  newDataSource,
  resourceHandler,
  resourcePath,
  type TestBackendSrv,
} from './test/grafana';
import {
  type ProvisiondQuery,
  type ProvisiondVariableQuery,
  QUERY_TYPES,
  type QueryField,
  type QueryType,
} from './types';

/** A query with every field of the model set; string fields hold a variable named after the field. */
const EVERY_FIELD: Required<Pick<ProvisiondQuery, QueryField | 'refId' | 'queryType'>> = {
  refId: '$refId',
  queryType: '$queryType' as QueryType,
  jobId: '$jobId',
  identity: '$identity',
  identityPrefix: true,
  eventId: '$eventId',
  cycleId: '$cycleId',
  action: '$action',
  status: '$status',
  errorCode: '${errorCode}',
  identityType: '[[identityType]]',
  groupBy: ['$groupBy', 'jobId'],
  interval: '$interval',
  format: 'logs',
  limit: 25,
  order: 'asc',
  query: '$query',
  metric: '$metric',
};

const DASHBOARD_VARS: Record<string, string | string[]> = {
  refId: 'NOPE',
  queryType: 'events',
  jobId: 'demo',
  identity: 'E0001',
  eventId: 'ev-1',
  cycleId: 'cy-1',
  action: 'create',
  status: 'failure',
  errorCode: 'EntryConflict',
  identityType: 'User',
  groupBy: ['action', 'status'],
  interval: '5m',
  query: 'ali',
  metric: 'escrows',
};

describe('applyTemplateVariables', () => {
  beforeEach(() => {
    installTemplateSrv(DASHBOARD_VARS);
  });

  it('covers every field the query types use', () => {
    const used = new Set(QUERY_TYPES.flatMap((t) => t.fields));
    for (const field of used) {
      expect(EVERY_FIELD, `EVERY_FIELD lacks ${field}`).toHaveProperty(field);
    }
  });

  it('replaces variables in every string field and each groupBy entry', () => {
    const ds = newDataSource();
    const out = ds.applyTemplateVariables(EVERY_FIELD as ProvisiondQuery, {});
    expect(out).toEqual({
      refId: '$refId', // identifies the query to Grafana: never interpolated
      queryType: 'events',
      jobId: 'demo',
      identity: 'E0001',
      identityPrefix: true,
      eventId: 'ev-1',
      cycleId: 'cy-1',
      action: 'create',
      status: 'failure',
      errorCode: 'EntryConflict',
      identityType: 'User',
      groupBy: ['action', 'status', 'jobId'], // multi-value variable expanded, duplicates dropped
      interval: '5m',
      format: 'logs',
      limit: 25,
      order: 'asc',
      query: 'ali',
      metric: 'escrows',
    });
  });

  it.each<{ name: string; query: Partial<ProvisiondQuery>; scoped: ScopedVars; want: Partial<ProvisiondQuery> }>([
    {
      name: 'scoped variables win over dashboard variables (repeated panels)',
      query: { jobId: '$jobId' },
      scoped: { jobId: { text: 'ldap', value: 'ldap' } },
      want: { jobId: 'ldap' },
    },
    {
      name: 'unknown variables stay as written',
      query: { identity: '$nobody' },
      scoped: {},
      want: { identity: '$nobody' },
    },
    {
      name: 'text around variables is kept',
      query: { identity: 'E$jobId-1' },
      scoped: {},
      want: { identity: 'Edemo-1' },
    },
    {
      name: 'an empty groupBy entry is dropped',
      query: { groupBy: ['$empty', ' status '] },
      scoped: { empty: { text: '', value: '' } },
      want: { groupBy: ['status'] },
    },
    {
      name: 'absent fields stay absent',
      query: {},
      scoped: {},
      want: {},
    },
  ])('$name', ({ query, scoped, want }) => {
    const out = interpolateQuery({ refId: 'A', queryType: 'events', ...query }, scoped);
    expect(out).toEqual({ refId: 'A', queryType: 'events', ...want });
  });

  it('does not change the query it is given', () => {
    const query: ProvisiondQuery = { refId: 'A', queryType: 'eventCounts', jobId: '$jobId', groupBy: ['$groupBy'] };
    const copy = structuredClone(query);
    interpolateQuery(query, {});
    expect(query).toEqual(copy);
  });
});

describe('filterQuery', () => {
  it.each<[string, Partial<ProvisiondQuery>, boolean]>([
    ['status for all jobs', { queryType: 'status' }, true],
    ['quarantine', { queryType: 'quarantine', jobId: '' }, true],
    ['events without filters', { queryType: 'events' }, true],
    ['cycles of all jobs', { queryType: 'cycles' }, true],
    ['cycles with a job variable', { queryType: 'cycles', jobId: '$job' }, true],
    ['quarantine with a metric', { queryType: 'quarantine', metric: 'escrows' }, true],
    ['userPath without identity or event', { queryType: 'userPath', jobId: 'demo' }, false],
    ['userPath with an identity', { queryType: 'userPath', identity: 'E0001' }, true],
    ['userPath with an event id', { queryType: 'userPath', eventId: 'ev-1' }, true],
    ['history without identity', { queryType: 'history', jobId: 'demo' }, false],
    ['history with an identity variable', { queryType: 'history', identity: '$user' }, true],
    ['jobs variable query', { queryType: 'jobs' }, true],
    ['identities variable query', { queryType: 'identities', query: '' }, true],
    ['an unknown query type', { queryType: 'bogus' as QueryType }, false],
    ['no query type', {}, false],
    ['a hidden query', { queryType: 'status', hide: true }, false],
  ])('%s → %s', (_, query, want) => {
    expect(newDataSource().filterQuery({ refId: 'A', ...query } as ProvisiondQuery)).toBe(want);
  });

  it('explains what is missing', () => {
    expect(validateQuery({ queryType: 'history' })).toBe('Identity history needs an identity.');
    expect(validateQuery({ queryType: 'userPath' })).toBe('User path needs an identity or an event id.');
    expect(validateQuery({ queryType: 'bogus' as QueryType })).toBe('Unknown query type "bogus".');
  });
});

describe('getDefaultQuery', () => {
  it.each<[CoreApp, Partial<ProvisiondQuery>]>([
    [CoreApp.Dashboard, { queryType: 'status' }],
    [CoreApp.PanelEditor, { queryType: 'status' }],
    [CoreApp.Explore, { queryType: 'events', format: 'logs' }],
    [CoreApp.UnifiedAlerting, { queryType: 'quarantine' }],
  ])('%s', (app, want) => {
    const got = newDataSource().getDefaultQuery(app);
    expect(got).toEqual(want);
    expect(newDataSource().filterQuery({ refId: 'A', ...got } as ProvisiondQuery)).toBe(true);
  });
});

/** A response of Grafana's /api/ds/query: one frame per refId, as the backend sends it. */
function queryResponse(frames: Record<string, ReturnType<typeof createDataFrame>>) {
  const results: Record<string, unknown> = {};
  for (const [refId, frame] of Object.entries(frames)) {
    results[refId] = { status: 200, frames: [dataFrameToJSON(frame)] };
  }
  return { results };
}

function request<Q extends ProvisiondQuery>(targets: Q[], scopedVars: ScopedVars = {}): DataQueryRequest<Q> {
  const now = dateTime(1_700_000_000_000);
  return {
    requestId: 'r1',
    interval: '1m',
    intervalMs: 60_000,
    maxDataPoints: 500,
    range: { from: now, to: now, raw: { from: 'now-1h', to: 'now' } },
    scopedVars,
    targets,
    timezone: 'utc',
    app: CoreApp.Dashboard,
    startTime: 0,
  };
}

describe('queries through the backend', () => {
  let backend: TestBackendSrv;

  beforeEach(() => {
    installTemplateSrv({ job: 'demo', user: 'E0001' });
    backend = installBackendSrv((req) => {
      if (req.url.startsWith('/api/ds/query')) {
        const refIds = (req.data as { queries: ProvisiondQuery[] }).queries.map((q) => q.refId);
        return queryResponse(
          Object.fromEntries(
            refIds.map((refId) => [
              refId,
              createDataFrame({
                refId,
                fields: [
                  { name: 'text', type: FieldType.string, values: ['Demo HR → SCIM'] },
                  { name: 'value', type: FieldType.string, values: ['demo'] },
                ],
              }),
            ])
          )
        );
      }
      return resourceHandler(req);
    });
  });

  it('sends interpolated queries to /api/ds/query', async () => {
    const ds = newDataSource();
    await lastValueFrom(
      ds.query(request([{ refId: 'A', queryType: 'history', jobId: '$job', identity: '$user', limit: 5 }]))
    );
    expect(backend.requests).toHaveLength(1);
    const sent = backend.requests[0];
    expect(sent.method).toBe('POST');
    expect(sent.url).toMatch(/^\/api\/ds\/query\?ds_type=provisiond-provisioning-datasource/);
    const body = sent.data as { queries: Array<Record<string, unknown>>; from: string; to: string };
    expect(body.queries).toHaveLength(1);
    expect(body.queries[0]).toMatchObject({
      refId: 'A',
      queryType: 'history',
      jobId: 'demo',
      identity: 'E0001',
      limit: 5,
      datasource: { type: 'provisiond-provisioning-datasource', uid: 'provisiond-uid' },
      intervalMs: 60_000,
      maxDataPoints: 500,
    });
  });

  it('runs variable queries as jobs/identities queries and returns text/value frames', async () => {
    const ds = newDataSource();
    const variables = ds.variables as unknown as {
      query: (r: DataQueryRequest<ProvisiondVariableQuery>) => ReturnType<typeof ds.query>;
    };
    const rsp: DataQueryResponse = await lastValueFrom(
      variables.query(
        request([
          { refId: 'A', queryType: 'identities', query: 'al', jobId: '$job' },
          { refId: 'B', query: 'x' } as ProvisiondVariableQuery, // saved before queryType existed
        ])
      )
    );
    const sent = (backend.requests[0].data as { queries: ProvisiondQuery[] }).queries;
    expect(sent.map((q) => [q.refId, q.queryType, q.query, q.jobId])).toEqual([
      ['A', 'identities', 'al', 'demo'],
      ['B', 'jobs', 'x', undefined],
    ]);
    expect(rsp.data).toHaveLength(2);
    const names = rsp.data[0].fields.map((f: { name: string }) => f.name);
    expect(names).toEqual(['text', 'value']);
  });

  it('reads jobs and identities from the backend resources', async () => {
    const ds = newDataSource();
    expect(await ds.getJobs()).toEqual([
      { id: 'demo', name: 'Demo HR → SCIM' },
      { id: 'ldap', name: 'HR → LDAP' },
    ]);
    const found = await ds.searchIdentities('ali', '$job');
    expect(found.map((i) => i.value)).toEqual(['E0001']);

    const [jobsReq, identitiesReq] = backend.requests;
    expect(jobsReq.method).toBe('GET');
    expect(jobsReq.url).toBe('/api/datasources/uid/provisiond-uid/resources/jobs');
    expect(resourcePath(identitiesReq)).toBe('identities');
    expect(identitiesReq.params).toEqual({ query: 'ali', jobId: 'demo' });
  });
});
