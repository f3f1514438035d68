import type { QueryEditorProps } from '@grafana/data';
import {
  Combobox,
  type ComboboxOption,
  InlineField,
  InlineFieldRow,
  InlineSwitch,
  Input,
  RadioButtonGroup,
  Stack,
} from '@grafana/ui';
import { type ChangeEvent, useId } from 'react';

import { type DataSource, validateQuery } from '../datasource';
import {
  ACTIONS,
  DEFAULT_QUERY,
  type EventsFormat,
  GROUP_BY_FIELDS,
  IDENTITY_TYPES,
  KNOWN_ERROR_CODES,
  LIMITS,
  type ProvisiondOptions,
  type ProvisiondQuery,
  QUARANTINE_METRICS,
  QUERY_TYPES,
  type QueryField,
  type QueryType,
  queryTypeInfo,
  type SortOrder,
  STATUSES,
} from '../types';
import { ChoicePicker, IdentityPicker, JobPicker, MultiChoicePicker } from './pickers';

/** Props Grafana passes to a datasource query editor. */
export type QueryEditorComponentProps = QueryEditorProps<DataSource, ProvisiondQuery, ProvisiondOptions>;

const LABEL_WIDTH = 16;

const QUERY_TYPE_OPTIONS: Array<ComboboxOption<QueryType>> = QUERY_TYPES.map((t) => ({
  label: t.label,
  value: t.value,
  description: t.description,
}));

const FORMAT_OPTIONS = [
  { label: 'Logs', value: 'logs' as EventsFormat, description: 'A log-lines frame for the Logs panel and Explore' },
  { label: 'Table', value: 'table' as EventsFormat, description: 'One column per field' },
];

const ORDER_OPTIONS = [
  { label: 'Newest first', value: 'desc' as SortOrder },
  { label: 'Oldest first', value: 'asc' as SortOrder },
];

const METRIC_OPTIONS: Array<ComboboxOption<string>> = QUARANTINE_METRICS.map((m) => ({
  label: m.label,
  value: m.value,
  description: m.description,
}));

/** Seconds per unit of a Go duration (time.ParseDuration). */
const GO_DURATION_UNITS: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
const GO_DURATION = /^(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))+$/;
const GO_DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/g;

/**
 * Says what is wrong with an eventCounts interval, or undefined when it is empty, holds a
 * template variable, or is a Go duration of whole minutes, at least 1m (what the backend accepts).
 */
export function validateInterval(interval: string | undefined): string | undefined {
  const value = (interval ?? '').trim();
  if (value === '' || value.includes('$')) {
    return undefined;
  }
  if (!GO_DURATION.test(value)) {
    return 'Use a duration such as 5m, 1h or 1h30m.';
  }
  let seconds = 0;
  for (const [, n, unit] of value.matchAll(GO_DURATION_PART)) {
    seconds += Number(n) * GO_DURATION_UNITS[unit];
  }
  const minutes = seconds / 60;
  if (minutes < 1 || Math.abs(minutes - Math.round(minutes)) > 1e-9) {
    return 'Use whole minutes, at least 1m (5m, 1h, 1h30m).';
  }
  return undefined;
}

/**
 * The query editor: a query type, then only the fields that type uses. Selections run the query
 * at once; typed fields update the model on every keystroke and run it when they lose focus.
 */
export function QueryEditor({ query: saved, datasource, onChange, onRunQuery }: QueryEditorComponentProps) {
  const id = useId();
  const query: ProvisiondQuery = { ...saved, queryType: saved.queryType ?? DEFAULT_QUERY.queryType };
  const known = queryTypeInfo(query.queryType);
  const info = known ?? QUERY_TYPES[0];
  const shows = (field: QueryField) => info.fields.includes(field);
  const problem = validateQuery(query);

  /** Emits the query with one field changed; empty values are removed, not sent. */
  const set = <K extends QueryField>(field: K, value: ProvisiondQuery[K] | undefined, run: boolean) => {
    const next: ProvisiondQuery = { ...query };
    if (value === undefined || value === '' || (Array.isArray(value) && value.length === 0)) {
      delete next[field];
    } else {
      next[field] = value;
    }
    onChange(next);
    if (run) {
      onRunQuery();
    }
  };

  const onQueryTypeChange = (queryType: QueryType) => {
    onChange(switchQueryType(query, queryType));
    onRunQuery();
  };

  const text = (field: 'cycleId' | 'eventId' | 'interval' | 'query') => ({
    value: query[field] ?? '',
    onChange: (e: ChangeEvent<HTMLInputElement>) => set(field, e.currentTarget.value, false),
    onBlur: () => onRunQuery(),
  });

  const intervalError = validateInterval(query.interval);
  const identityRequired = info.value === 'history' || (info.value === 'userPath' && !query.eventId);
  const limits = LIMITS[info.value];
  const limitError =
    limits && query.limit !== undefined && query.limit > limits.max ? `At most ${limits.max}.` : undefined;

  return (
    <Stack direction="column" gap={0}>
      <InlineFieldRow>
        <InlineField
          label="Query type"
          labelWidth={LABEL_WIDTH}
          tooltip={info.description}
          htmlFor={`${id}-type`}
          invalid={!known}
          error={known ? undefined : problem}
        >
          <Combobox<QueryType>
            id={`${id}-type`}
            options={QUERY_TYPE_OPTIONS}
            value={known ? info.value : null}
            placeholder="Choose a query type"
            onChange={(option) => onQueryTypeChange(option.value)}
            width={30}
          />
        </InlineField>
        {shows('jobId') && (
          <InlineField label="Job" labelWidth={10} htmlFor={`${id}-job`}>
            <JobPicker
              id={`${id}-job`}
              datasource={datasource}
              value={query.jobId}
              onChange={(jobId) => set('jobId', jobId, true)}
            />
          </InlineField>
        )}
        {shows('metric') && (
          <InlineField label="Metric" labelWidth={10} htmlFor={`${id}-metric`} tooltip="The number returned per job">
            <Combobox<string>
              id={`${id}-metric`}
              options={METRIC_OPTIONS}
              value={query.metric ?? QUARANTINE_METRICS[0].value}
              onChange={(option) => set('metric', option.value, true)}
              width={30}
            />
          </InlineField>
        )}
        {shows('query') && (
          <InlineField label="Search" labelWidth={10} htmlFor={`${id}-query`} tooltip="Empty lists everything">
            <Input id={`${id}-query`} width={30} placeholder="Search text" {...text('query')} />
          </InlineField>
        )}
      </InlineFieldRow>

      {(shows('identity') || shows('eventId') || shows('cycleId')) && (
        <InlineFieldRow>
          {shows('identity') && (
            <InlineField
              label="Identity"
              labelWidth={LABEL_WIDTH}
              htmlFor={`${id}-identity`}
              tooltip="Source identity id (e.g. an employee id); search by name or id"
              invalid={identityRequired && !query.identity}
              error={identityRequired && !query.identity ? problem : undefined}
            >
              <IdentityPicker
                id={`${id}-identity`}
                datasource={datasource}
                jobId={query.jobId}
                value={query.identity}
                invalid={identityRequired && !query.identity}
                onChange={(identity) => set('identity', identity, true)}
              />
            </InlineField>
          )}
          {shows('identityPrefix') && (
            <InlineField
              label="Prefix match"
              htmlFor={`${id}-prefix`}
              tooltip="Match identities starting with the text"
            >
              <InlineSwitch
                id={`${id}-prefix`}
                value={query.identityPrefix ?? false}
                onChange={(e) => set('identityPrefix', e.currentTarget.checked || undefined, true)}
              />
            </InlineField>
          )}
          {shows('eventId') && (
            <InlineField label="Event id" labelWidth={10} htmlFor={`${id}-event`} tooltip="Wins over the identity">
              <Input id={`${id}-event`} width={40} placeholder="Latest event of the identity" {...text('eventId')} />
            </InlineField>
          )}
          {shows('cycleId') && (
            <InlineField label="Cycle id" labelWidth={10} htmlFor={`${id}-cycle`}>
              <Input id={`${id}-cycle`} width={40} placeholder="Any cycle" {...text('cycleId')} />
            </InlineField>
          )}
        </InlineFieldRow>
      )}

      {(shows('action') || shows('status') || shows('errorCode') || shows('identityType')) && (
        <InlineFieldRow>
          {shows('action') && (
            <InlineField label="Action" labelWidth={LABEL_WIDTH} htmlFor={`${id}-action`}>
              <ChoicePicker
                id={`${id}-action`}
                choices={ACTIONS}
                value={query.action}
                onChange={(v) => set('action', v, true)}
              />
            </InlineField>
          )}
          {shows('status') && (
            <InlineField label="Status" labelWidth={10} htmlFor={`${id}-status`}>
              <ChoicePicker
                id={`${id}-status`}
                choices={STATUSES}
                value={query.status}
                onChange={(v) => set('status', v, true)}
              />
            </InlineField>
          )}
          {shows('errorCode') && (
            <InlineField label="Error code" labelWidth={12} htmlFor={`${id}-error`}>
              <ChoicePicker
                id={`${id}-error`}
                choices={KNOWN_ERROR_CODES}
                value={query.errorCode}
                width={30}
                onChange={(v) => set('errorCode', v, true)}
              />
            </InlineField>
          )}
          {shows('identityType') && (
            <InlineField label="Identity type" labelWidth={14} htmlFor={`${id}-itype`}>
              <ChoicePicker
                id={`${id}-itype`}
                choices={IDENTITY_TYPES}
                value={query.identityType}
                onChange={(v) => set('identityType', v, true)}
              />
            </InlineField>
          )}
        </InlineFieldRow>
      )}

      {(shows('groupBy') || shows('interval')) && (
        <InlineFieldRow>
          {shows('groupBy') && (
            <InlineField
              label="Group by"
              labelWidth={LABEL_WIDTH}
              htmlFor={`${id}-groupby`}
              tooltip="One series per value"
            >
              <MultiChoicePicker
                id={`${id}-groupby`}
                choices={GROUP_BY_FIELDS}
                value={query.groupBy}
                placeholder="No grouping: one series"
                onChange={(v) => set('groupBy', v, true)}
              />
            </InlineField>
          )}
          {shows('interval') && (
            <InlineField
              label="Interval"
              labelWidth={10}
              htmlFor={`${id}-interval`}
              tooltip="Bucket width in whole minutes (5m, 1h); empty follows the panel interval"
              invalid={intervalError !== undefined}
              error={intervalError}
            >
              <Input id={`${id}-interval`} width={16} placeholder="auto" {...text('interval')} />
            </InlineField>
          )}
        </InlineFieldRow>
      )}

      {(shows('format') || shows('limit') || shows('order')) && (
        <InlineFieldRow>
          {shows('format') && (
            <InlineField label="Format" labelWidth={LABEL_WIDTH} htmlFor={`${id}-format`} useFieldset>
              <RadioButtonGroup<EventsFormat>
                id={`${id}-format`}
                options={FORMAT_OPTIONS}
                value={query.format ?? 'logs'}
                onChange={(v) => set('format', v, true)}
              />
            </InlineField>
          )}
          {shows('limit') && (
            <InlineField
              label="Limit"
              labelWidth={8}
              htmlFor={`${id}-limit`}
              tooltip={limits ? `Default ${limits.default}, at most ${limits.max}` : undefined}
              invalid={limitError !== undefined}
              error={limitError}
            >
              <Input
                id={`${id}-limit`}
                type="number"
                min={1}
                max={limits?.max}
                width={10}
                placeholder={limits ? String(limits.default) : undefined}
                value={query.limit ?? ''}
                onChange={(e) => set('limit', parseLimit(e.currentTarget.value), false)}
                onBlur={() => onRunQuery()}
              />
            </InlineField>
          )}
          {shows('order') && (
            <InlineField label="Order" labelWidth={8} htmlFor={`${id}-order`} useFieldset>
              <RadioButtonGroup<SortOrder>
                id={`${id}-order`}
                options={ORDER_OPTIONS}
                value={query.order ?? 'desc'}
                onChange={(v) => set('order', v, true)}
              />
            </InlineField>
          )}
        </InlineFieldRow>
      )}
    </Stack>
  );
}

/** A positive whole limit, or undefined (backend default) for anything else. */
function parseLimit(raw: string): number | undefined {
  const n = Number(raw);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/**
 * The query after a change of type: Grafana's own fields, the new type, and those fields of the
 * old query that the new type also uses (so a job or identity survives the switch).
 */
export function switchQueryType(query: ProvisiondQuery, queryType: QueryType): ProvisiondQuery {
  const next: ProvisiondQuery = { refId: query.refId, queryType };
  for (const key of ['datasource', 'hide', 'key'] as const) {
    if (query[key] !== undefined) {
      (next as unknown as Record<string, unknown>)[key] = query[key];
    }
  }
  const target = queryTypeInfo(queryType);
  for (const field of target?.fields ?? []) {
    if (query[field] !== undefined) {
      (next as unknown as Record<string, unknown>)[field] = query[field];
    }
  }
  return next;
}
