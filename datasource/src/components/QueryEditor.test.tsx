import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { useState } from 'react';
import { beforeEach, describe, expect, it } from 'vitest';

import type { DataSource } from '../datasource';
import {
  installBackendSrv,
  installTemplateSrv,
  newDataSource,
  resourceHandler,
  resourcePath,
  type TestBackendSrv,
} from '../test/grafana';
import type { ProvisiondQuery, QueryType } from '../types';
import { QueryEditor, switchQueryType, validateInterval } from './QueryEditor';

/** Every field label the editor can show. */
const ALL_LABELS = [
  'Job',
  'Metric',
  'Search',
  'Identity',
  'Prefix match',
  'Event id',
  'Cycle id',
  'Action',
  'Status',
  'Error code',
  'Identity type',
  'Group by',
  'Interval',
  'Format',
  'Limit',
  'Order',
] as const;
type Label = (typeof ALL_LABELS)[number];

/** The fields each query type shows, written out independently of QUERY_TYPES. */
const VISIBLE: Record<QueryType, Label[]> = {
  status: ['Job'],
  quarantine: ['Job', 'Metric'],
  progress: ['Job', 'Limit'],
  eventCounts: ['Job', 'Action', 'Status', 'Error code', 'Identity type', 'Group by', 'Interval'],
  events: [
    'Job',
    'Identity',
    'Prefix match',
    'Cycle id',
    'Action',
    'Status',
    'Error code',
    'Identity type',
    'Format',
    'Limit',
    'Order',
  ],
  topErrors: ['Job', 'Limit'],
  cycles: ['Job', 'Limit', 'Order'],
  userPath: ['Job', 'Identity', 'Event id'],
  history: ['Job', 'Identity', 'Format', 'Limit', 'Order'],
  jobs: ['Search'],
  identities: ['Job', 'Search'],
  statusChanges: ['Job', 'Limit', 'Order'],
  statusTimeline: ['Job'],
  properties: ['Job', 'Identity', 'Event id', 'Limit', 'Order'],
};

/** The labels of the fields on screen: InlineField labels, and the names of radio groups. */
function visibleLabels(): string[] {
  const labels = Array.from(document.querySelectorAll('label')).map((n) => n.textContent?.trim() ?? '');
  const groups = screen.queryAllByRole('radiogroup').map((g) => {
    const by = g.getAttribute('aria-labelledby');
    return (by && document.getElementById(by)?.textContent?.trim()) || '';
  });
  const texts = [...labels, ...groups];
  return ALL_LABELS.filter((l) => texts.includes(l));
}

/** Renders the editor as Grafana does (keeping the query), recording changes and runs. */
function renderEditor(initial: ProvisiondQuery, datasource: DataSource = newDataSource()) {
  const changes: ProvisiondQuery[] = [];
  let runs = 0;
  function Harness() {
    const [query, setQuery] = useState(initial);
    return (
      <QueryEditor
        query={query}
        datasource={datasource}
        onChange={(q) => {
          changes.push(q);
          setQuery(q);
        }}
        onRunQuery={() => {
          runs++;
        }}
      />
    );
  }
  render(<Harness />);
  return { changes, last: () => changes[changes.length - 1], runs: () => runs };
}

/** Opens the combobox labelled `label` (unless open) and picks the option whose name matches `option`. */
async function pick(label: string, option: RegExp | string) {
  const input = screen.getByRole('combobox', { name: label });
  if (input.getAttribute('aria-expanded') !== 'true') {
    await userEvent.click(input);
  }
  await userEvent.click(await screen.findByRole('option', { name: option }));
}

describe('QueryEditor', () => {
  let backend: TestBackendSrv;

  beforeEach(() => {
    installTemplateSrv({ job: 'demo', user: 'E0001' });
    backend = installBackendSrv(resourceHandler);
  });

  it.each(Object.entries(VISIBLE) as Array<[QueryType, Label[]]>)('%s shows only its fields', (queryType, labels) => {
    renderEditor({ refId: 'A', queryType });
    expect(visibleLabels()).toEqual(ALL_LABELS.filter((l) => labels.includes(l)));
  });

  it('switches the query type, keeping the fields the new type uses', async () => {
    const { last, runs } = renderEditor({
      refId: 'A',
      queryType: 'events',
      jobId: 'demo',
      identity: 'E0001',
      action: 'create',
      format: 'table',
      limit: 20,
    });
    await pick('Query type', /^Identity history/);
    expect(last()).toEqual({
      refId: 'A',
      queryType: 'history',
      jobId: 'demo',
      identity: 'E0001',
      format: 'table',
      limit: 20,
    });
    expect(runs()).toBe(1);
    expect(visibleLabels()).toEqual(['Job', 'Identity', 'Format', 'Limit', 'Order']);
  });

  it('picks a job from the backend, a variable or all jobs', async () => {
    const { last, runs } = renderEditor({ refId: 'A', queryType: 'status' });
    await pick('Job', /Demo HR → SCIM \(demo\)/);
    expect(last()).toEqual({ refId: 'A', queryType: 'status', jobId: 'demo' });
    await pick('Job', /^\$job/);
    expect(last().jobId).toBe('$job');
    await pick('Job', 'All jobs');
    expect(last()).toEqual({ refId: 'A', queryType: 'status' });
    expect(runs()).toBe(3);
    expect(backend.requests.map(resourcePath)).toEqual(['jobs']);
  });

  it('accepts a typed job id that the backend does not list', async () => {
    const { last } = renderEditor({ refId: 'A', queryType: 'cycles' });
    await userEvent.type(screen.getByRole('combobox', { name: 'Job' }), 'nightly');
    await userEvent.click(await screen.findByRole('option', { name: /nightly/ }));
    expect(last()).toEqual({ refId: 'A', queryType: 'cycles', jobId: 'nightly' });
  });

  it('picks the number a quarantine query returns', async () => {
    const { last, runs } = renderEditor({ refId: 'A', queryType: 'quarantine' });
    expect(screen.getByRole('combobox', { name: 'Metric' })).toHaveValue('Quarantined');
    await pick('Metric', /^Escrows/);
    expect(last()).toEqual({ refId: 'A', queryType: 'quarantine', metric: 'escrows' });
    expect(runs()).toBe(1);
  });

  it('autocompletes identities from the backend within the chosen job', async () => {
    const { last, runs } = renderEditor({ refId: 'A', queryType: 'history', jobId: '$job' });
    expect(screen.getByText('Identity history needs an identity.')).toBeInTheDocument();
    await userEvent.type(screen.getByRole('combobox', { name: 'Identity' }), 'ali');
    const option = await screen.findByRole('option', { name: /Alice Smith \(E0001\)/ });
    expect(within(option).getByText('User · demo')).toBeInTheDocument();
    await userEvent.click(option);
    expect(last()).toEqual({ refId: 'A', queryType: 'history', jobId: '$job', identity: 'E0001' });
    expect(runs()).toBe(1);
    expect(screen.queryByText('Identity history needs an identity.')).not.toBeInTheDocument();

    const searches = backend.requests.filter((r) => resourcePath(r) === 'identities');
    expect(searches.length).toBeGreaterThan(0);
    expect(searches[searches.length - 1].params).toEqual({ query: 'ali', jobId: 'demo' });
  });

  it('takes a template variable as the identity', async () => {
    const { last } = renderEditor({ refId: 'A', queryType: 'userPath' });
    await userEvent.type(screen.getByRole('combobox', { name: 'Identity' }), '$us');
    await userEvent.click(await screen.findByRole('option', { name: /^\$user/ }));
    expect(last()).toEqual({ refId: 'A', queryType: 'userPath', identity: '$user' });
  });

  it('edits the events filters and options', async () => {
    const { last, runs } = renderEditor({ refId: 'A', queryType: 'events' });
    await pick('Action', 'stagedDelete');
    await pick('Status', 'failure');
    await pick('Error code', 'EntryConflict');
    await pick('Identity type', 'Group');
    await userEvent.click(screen.getByLabelText('Prefix match'));
    await userEvent.click(screen.getByRole('radio', { name: 'Table' }));
    await userEvent.click(screen.getByRole('radio', { name: 'Oldest first' }));
    expect(runs()).toBe(7);

    await userEvent.type(screen.getByLabelText('Cycle id'), 'cy-42');
    expect(runs()).toBe(7); // typing does not run the query…
    await userEvent.type(screen.getByLabelText('Limit'), '250');
    expect(runs()).toBe(8); // …leaving the field does
    await userEvent.tab();
    expect(runs()).toBe(9);

    expect(last()).toEqual({
      refId: 'A',
      queryType: 'events',
      action: 'stagedDelete',
      status: 'failure',
      errorCode: 'EntryConflict',
      identityType: 'Group',
      identityPrefix: true,
      format: 'table',
      order: 'asc',
      cycleId: 'cy-42',
      limit: 250,
    });
  });

  it('clears a filter and accepts a custom error code', async () => {
    const { last } = renderEditor({ refId: 'A', queryType: 'events', status: 'failure' });
    await userEvent.click(screen.getByRole('button', { name: 'Clear value' }));
    expect(last()).toEqual({ refId: 'A', queryType: 'events' });

    await userEvent.type(
      screen.getByRole('combobox', { name: 'Error code' }),
      'SystemForCrossDomainIdentityManagementBadRequest'
    );
    await userEvent.click(
      await screen.findByRole('option', { name: /SystemForCrossDomainIdentityManagementBadRequest/ })
    );
    expect(last().errorCode).toBe('SystemForCrossDomainIdentityManagementBadRequest');
  });

  it('edits eventCounts grouping and interval', async () => {
    const { last, runs } = renderEditor({ refId: 'A', queryType: 'eventCounts' });
    await pick('Group by', /^action/);
    await pick('Group by', /^errorCode/);
    expect(last().groupBy).toEqual(['action', 'errorCode']);

    const interval = screen.getByLabelText('Interval');
    await userEvent.type(interval, '5 minutes');
    expect(screen.getByText('Use a duration such as 5m, 1h or 1h30m.')).toBeInTheDocument();
    await userEvent.clear(interval);
    await userEvent.type(interval, '90s');
    expect(screen.getByText('Use whole minutes, at least 1m (5m, 1h, 1h30m).')).toBeInTheDocument();
    await userEvent.clear(interval);
    await userEvent.type(interval, '1h30m');
    expect(screen.queryByText(/^Use /)).not.toBeInTheDocument();
    await userEvent.tab();
    expect(last()).toEqual({
      refId: 'A',
      queryType: 'eventCounts',
      groupBy: ['action', 'errorCode'],
      interval: '1h30m',
    });
    expect(runs()).toBeGreaterThanOrEqual(3);
  });

  it('shows the default limit of each type, flags one over the maximum and drops an invalid one', async () => {
    const { last } = renderEditor({ refId: 'A', queryType: 'topErrors', limit: 5 });
    const limit = screen.getByLabelText('Limit');
    expect(limit).toHaveAttribute('placeholder', '10');
    await userEvent.type(limit, '0');
    expect(last().limit).toBe(50);
    expect(screen.queryByText('At most 100.')).not.toBeInTheDocument();
    await userEvent.type(limit, '0');
    expect(last().limit).toBe(500);
    expect(screen.getByText('At most 100.')).toBeInTheDocument();
    await userEvent.clear(limit);
    expect(last()).toEqual({ refId: 'A', queryType: 'topErrors' });
  });

  it('edits the search of a jobs query', async () => {
    const { last } = renderEditor({ refId: 'A', queryType: 'identities' });
    await userEvent.type(screen.getByLabelText('Search'), 'al');
    expect(last()).toEqual({ refId: 'A', queryType: 'identities', query: 'al' });
  });

  it('flags an unknown query type (a dashboard from a newer plugin)', async () => {
    const { last } = renderEditor({ refId: 'A', queryType: 'later' as QueryType, jobId: 'demo' });
    expect(screen.getByText('Unknown query type "later".')).toBeInTheDocument();
    expect(screen.getByRole('combobox', { name: 'Query type' })).toHaveValue('');
    await pick('Query type', /^Status/);
    expect(last()).toEqual({ refId: 'A', queryType: 'status', jobId: 'demo' });
  });

  it('keeps working when the job list fails to load', async () => {
    installBackendSrv(() => new Error('API down'));
    const { last } = renderEditor({ refId: 'A', queryType: 'status' });
    const job = screen.getByRole('combobox', { name: 'Job' });
    await userEvent.click(job);
    expect(await screen.findByText('Could not load the job list: type a job id')).toBeInTheDocument();
    await userEvent.keyboard('demo');
    await userEvent.click(await screen.findByRole('option', { name: /demo/ }));
    expect(last().jobId).toBe('demo');
  });
});

describe('validateInterval', () => {
  it.each<[string | undefined, boolean]>([
    [undefined, true],
    ['', true],
    ['5m', true],
    ['1h', true],
    ['1h30m', true],
    ['90m', true],
    ['120s', true],
    ['1.5h', true],
    ['$__interval', true],
    ['${bucket}', true],
    ['30s', false],
    ['90s', false],
    ['0m', false],
    ['5', false],
    ['5 m', false],
    ['5min', false],
    ['-5m', false],
  ])('%s', (interval, ok) => {
    expect(validateInterval(interval) === undefined).toBe(ok);
  });
});

describe('switchQueryType', () => {
  it.each<[string, ProvisiondQuery, QueryType, ProvisiondQuery]>([
    [
      'keeps Grafana fields',
      { refId: 'B', queryType: 'status', hide: true, key: 'k', datasource: { uid: 'x' } },
      'quarantine',
      { refId: 'B', queryType: 'quarantine', hide: true, key: 'k', datasource: { uid: 'x' } },
    ],
    [
      'drops fields the new type does not use',
      { refId: 'A', queryType: 'eventCounts', groupBy: ['action'], interval: '5m', status: 'failure' },
      'events',
      { refId: 'A', queryType: 'events', status: 'failure' },
    ],
    [
      'keeps the identity into user path',
      { refId: 'A', queryType: 'history', identity: 'E1', limit: 3, order: 'asc' },
      'userPath',
      { refId: 'A', queryType: 'userPath', identity: 'E1' },
    ],
  ])('%s', (_, from, to, want) => {
    expect(switchQueryType(from, to)).toEqual(want);
  });
});
