import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { useState } from 'react';
import { beforeEach, describe, expect, it } from 'vitest';

import { installBackendSrv, installTemplateSrv, newDataSource, resourceHandler } from '../test/grafana';
import type { ProvisiondVariableQuery } from '../types';
import { normalizeVariableQuery } from '../variableQuery';
import { VariableQueryEditor } from './VariableQueryEditor';

/** Renders the editor as Grafana's variable editor does, recording every emitted query. */
function renderEditor(initial: ProvisiondVariableQuery | undefined) {
  const changes: ProvisiondVariableQuery[] = [];
  function Harness() {
    const [query, setQuery] = useState(initial);
    return (
      <VariableQueryEditor
        query={query as ProvisiondVariableQuery}
        datasource={newDataSource()}
        onChange={(q) => {
          changes.push(q);
          setQuery(q);
        }}
        onRunQuery={() => {}}
      />
    );
  }
  render(<Harness />);
  return { changes, last: () => changes[changes.length - 1] };
}

describe('VariableQueryEditor', () => {
  beforeEach(() => {
    installTemplateSrv({ job: 'demo' });
    installBackendSrv(resourceHandler);
  });

  it('starts as a jobs query and emits the search when the field is left', async () => {
    const { changes, last } = renderEditor(undefined);
    expect(screen.getByRole('radio', { name: 'Jobs' })).toBeChecked();
    expect(screen.queryByRole('combobox', { name: 'Job' })).not.toBeInTheDocument();

    await userEvent.type(screen.getByLabelText('Search'), 'dem');
    expect(changes).toHaveLength(0); // no variable refresh per keystroke
    await userEvent.tab();
    expect(last()).toEqual({ refId: 'variable-0', queryType: 'jobs', query: 'dem' });
  });

  it('switches to identities and limits them to a job', async () => {
    const { last } = renderEditor({ refId: 'A', queryType: 'jobs', query: '' });
    await userEvent.click(screen.getByRole('radio', { name: 'Identities' }));
    expect(last()).toEqual({ refId: 'A', queryType: 'identities', query: '' });

    await userEvent.click(screen.getByRole('combobox', { name: 'Job' }));
    await userEvent.click(await screen.findByRole('option', { name: /^\$job/ }));
    expect(last()).toEqual({ refId: 'A', queryType: 'identities', query: '', jobId: '$job' });

    await userEvent.type(screen.getByLabelText('Search'), 'al');
    await userEvent.tab();
    expect(last()).toEqual({ refId: 'A', queryType: 'identities', query: 'al', jobId: '$job' });

    await userEvent.click(screen.getByRole('radio', { name: 'Jobs' }));
    expect(last()).toEqual({ refId: 'A', queryType: 'jobs', query: 'al' }); // jobs take no job filter
  });

  it('shows a saved identities query', () => {
    renderEditor({ refId: 'A', queryType: 'identities', query: 'E00', jobId: 'demo' });
    expect(screen.getByRole('radio', { name: 'Identities' })).toBeChecked();
    expect(screen.getByLabelText('Search')).toHaveValue('E00');
    expect(screen.getByRole('combobox', { name: 'Job' })).toBeInTheDocument();
  });
});

describe('normalizeVariableQuery', () => {
  it.each<[string, Parameters<typeof normalizeVariableQuery>[0], ProvisiondVariableQuery]>([
    ['nothing saved', undefined, { refId: 'variable-0', queryType: 'jobs', query: '' }],
    ['a legacy string query', 'demo', { refId: 'variable-0', queryType: 'jobs', query: 'demo' }],
    [
      'an unknown query type',
      { refId: 'A', queryType: 'status' as 'jobs', query: 'x' },
      { refId: 'A', queryType: 'jobs', query: 'x' },
    ],
    [
      'jobs drops a job filter',
      { refId: 'A', queryType: 'jobs', jobId: 'demo' },
      { refId: 'A', queryType: 'jobs', query: '' },
    ],
    [
      'identities keeps its job',
      { refId: 'A', queryType: 'identities', query: 'al', jobId: 'demo' },
      { refId: 'A', queryType: 'identities', query: 'al', jobId: 'demo' },
    ],
    [
      'identities drops an empty job',
      { refId: 'A', queryType: 'identities', jobId: '' },
      { refId: 'A', queryType: 'identities', query: '' },
    ],
  ])('%s', (_, saved, want) => {
    expect(normalizeVariableQuery(saved)).toEqual(want);
  });
});
