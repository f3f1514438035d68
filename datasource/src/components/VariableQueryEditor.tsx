import type { QueryEditorProps } from '@grafana/data';
import { InlineField, InlineFieldRow, Input, RadioButtonGroup, Stack } from '@grafana/ui';
import { useId, useState } from 'react';

import type { DataSource } from '../datasource';
import type { ProvisiondOptions, ProvisiondQuery, ProvisiondVariableQuery, VariableQueryType } from '../types';
import { normalizeVariableQuery } from '../variableQuery';
import { JobPicker } from './pickers';

/** Props Grafana passes to the editor of a query variable. */
export type VariableQueryEditorProps = QueryEditorProps<
  DataSource,
  ProvisiondQuery,
  ProvisiondOptions,
  ProvisiondVariableQuery
>;

const TYPE_OPTIONS = [
  { label: 'Jobs', value: 'jobs' as VariableQueryType, description: 'Job ids (text: name)' },
  { label: 'Identities', value: 'identities' as VariableQueryType, description: 'Source identity ids (text: name)' },
];

/**
 * Edits a template variable's query: jobs or identities, a search text, and for identities an
 * optional job. The search text is emitted when the field loses focus, so Grafana does not
 * re-run the variable on every keystroke.
 */
export function VariableQueryEditor({ query: saved, datasource, onChange }: VariableQueryEditorProps) {
  const id = useId();
  const query = normalizeVariableQuery(saved);
  const [search, setSearch] = useState(query.query ?? '');

  const emit = (next: ProvisiondVariableQuery) => onChange(normalizeVariableQuery(next));

  return (
    <Stack direction="column" gap={0}>
      <InlineFieldRow>
        <InlineField label="List" labelWidth={14} htmlFor={`${id}-type`} useFieldset>
          <RadioButtonGroup<VariableQueryType>
            id={`${id}-type`}
            options={TYPE_OPTIONS}
            value={query.queryType}
            onChange={(queryType) => emit({ ...query, queryType, query: search })}
          />
        </InlineField>
      </InlineFieldRow>
      <InlineFieldRow>
        <InlineField label="Search" labelWidth={14} htmlFor={`${id}-search`} tooltip="Empty lists everything">
          <Input
            id={`${id}-search`}
            width={30}
            placeholder={query.queryType === 'jobs' ? 'Job id or name' : 'Identity id or name'}
            value={search}
            onChange={(e) => setSearch(e.currentTarget.value)}
            onBlur={() => search !== (query.query ?? '') && emit({ ...query, query: search })}
          />
        </InlineField>
        {query.queryType === 'identities' && (
          <InlineField label="Job" labelWidth={8} htmlFor={`${id}-job`}>
            <JobPicker
              id={`${id}-job`}
              datasource={datasource}
              value={query.jobId}
              onChange={(jobId) => emit({ ...query, query: search, jobId: jobId || undefined })}
            />
          </InlineField>
        )}
      </InlineFieldRow>
    </Stack>
  );
}
