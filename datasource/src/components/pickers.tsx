import { getTemplateSrv } from '@grafana/runtime';
import { Combobox, type ComboboxOption, MultiCombobox } from '@grafana/ui';
import { useEffect, useMemo, useState } from 'react';

import type { DataSource } from '../datasource';

/** The options offering the dashboard's template variables ($name) as values. */
export function variableOptions(): Array<ComboboxOption<string>> {
  return getTemplateSrv()
    .getVariables()
    .map((v) => ({ label: `$${v.name}`, value: `$${v.name}`, description: 'Template variable' }));
}

/** Label of the job picker's option that means "all jobs" (jobId ''). */
export const ALL_JOBS_LABEL = 'All jobs';

/** Shown in the job picker's list when the backend's job list could not be loaded. */
export const JOB_LIST_FAILED = 'Could not load the job list: type a job id';

/** Props of {@link JobPicker}. */
export interface JobPickerProps {
  /** Supplies the job list (`GET jobs`). */
  datasource: DataSource;
  /** The current jobId; '' or undefined means all jobs. */
  value: string | undefined;
  /** Called with the chosen jobId ('' for all jobs). */
  onChange: (jobId: string) => void;
  /** id of the input, for the field label. */
  id?: string;
  /** Width as a multiple of 8px. */
  width?: number;
}

/**
 * Picks a job from the backend's job list, or a template variable, or any typed id (a job the
 * API does not list yet). A failing job list leaves typing and variables usable.
 */
export function JobPicker({ datasource, value, onChange, id, width = 30 }: JobPickerProps) {
  const [jobs, setJobs] = useState<Array<ComboboxOption<string>>>([]);
  const [loadError, setLoadError] = useState(false);
  useEffect(() => {
    let current = true;
    datasource.getJobs().then(
      (list) => {
        if (current) {
          setJobs((list ?? []).map((j) => ({ label: j.name ? `${j.name} (${j.id})` : j.id, value: j.id })));
          setLoadError(false);
        }
      },
      () => current && setLoadError(true)
    );
    return () => {
      current = false;
    };
  }, [datasource]);

  const options = useMemo(() => {
    const failed: Array<ComboboxOption<string>> = loadError
      ? [{ label: JOB_LIST_FAILED, value: '\u0000job-list-failed', infoOption: true }]
      : [];
    return [{ label: ALL_JOBS_LABEL, value: '' }, ...jobs, ...variableOptions(), ...failed];
  }, [jobs, loadError]);

  return (
    <Combobox<string>
      id={id}
      options={options}
      value={value ?? ''}
      onChange={(option) => onChange(option.value)}
      createCustomValue
      customValueDescription="Use this job id"
      placeholder="Choose a job"
      width={width}
    />
  );
}

/** Props of {@link IdentityPicker}. */
export interface IdentityPickerProps {
  /** Supplies the identity search (`GET identities`). */
  datasource: DataSource;
  /** The job the search is limited to ('' = all jobs; may be a template variable). */
  jobId: string | undefined;
  /** The current identity. */
  value: string | undefined;
  /** Called with the chosen identity ('' when cleared). */
  onChange: (identity: string) => void;
  /** id of the input, for the field label. */
  id?: string;
  /** Mark the picker invalid (a required identity is missing). */
  invalid?: boolean;
  /** Width as a multiple of 8px. */
  width?: number;
}

/**
 * Picks a source identity with search-as-you-type against the backend, or a template variable,
 * or any typed text (an id the search does not know, or a prefix for prefix matching).
 */
export function IdentityPicker({ datasource, jobId, value, onChange, id, invalid, width = 30 }: IdentityPickerProps) {
  const load = useMemo(
    () =>
      async (search: string): Promise<Array<ComboboxOption<string>>> => {
        const found = await datasource.searchIdentities(search, jobId ?? '');
        const identities = (found ?? []).map((i) => ({
          label: i.label || i.value,
          value: i.value,
          description: [i.identityType, i.jobId].filter(Boolean).join(' · '),
        }));
        const needle = search.toLowerCase();
        return [...identities, ...variableOptions().filter((v) => v.value.toLowerCase().includes(needle))];
      },
    [datasource, jobId]
  );
  return (
    <Combobox<string>
      id={id}
      options={load}
      value={value ? { label: value, value } : null}
      onChange={(option) => onChange(option?.value ?? '')}
      isClearable
      createCustomValue
      customValueDescription="Use this identity"
      placeholder="Search identities"
      invalid={invalid}
      width={width}
    />
  );
}

/** Props of {@link ChoicePicker}. */
export interface ChoicePickerProps {
  /** The known values, offered first. */
  choices: readonly string[];
  /** The current value; '' or undefined means "any". */
  value: string | undefined;
  /** Called with the chosen value ('' when cleared). */
  onChange: (value: string) => void;
  /** Placeholder shown when empty. */
  placeholder?: string;
  /** id of the input, for the field label. */
  id?: string;
  /** Width as a multiple of 8px. */
  width?: number;
}

/** Picks one of a set of known values, a template variable or any typed value; clearable. */
export function ChoicePicker({ choices, value, onChange, placeholder = 'Any', id, width = 20 }: ChoicePickerProps) {
  const options = useMemo(() => [...choices.map((c) => ({ label: c, value: c })), ...variableOptions()], [choices]);
  return (
    <Combobox<string>
      id={id}
      options={options}
      value={value || null}
      onChange={(option) => onChange(option?.value ?? '')}
      isClearable
      createCustomValue
      placeholder={placeholder}
      width={width}
    />
  );
}

/** Props of {@link MultiChoicePicker}. */
export interface MultiChoicePickerProps {
  /** The known values. */
  choices: readonly string[];
  /** The chosen values. */
  value: string[] | undefined;
  /** Called with the chosen values. */
  onChange: (value: string[]) => void;
  /** Placeholder shown when empty. */
  placeholder?: string;
  /** id of the input, for the field label. */
  id?: string;
  /** Minimum width as a multiple of 8px (it grows to twice that). */
  width?: number;
}

/** Picks several known values or template variables; grows with the chosen values. */
export function MultiChoicePicker({ choices, value, onChange, placeholder, id, width = 44 }: MultiChoicePickerProps) {
  const options = useMemo(() => [...choices.map((c) => ({ label: c, value: c })), ...variableOptions()], [choices]);
  return (
    <MultiCombobox<string>
      id={id}
      options={options}
      value={value ?? []}
      onChange={(selected) => onChange(selected.map((o) => o.value))}
      isClearable
      createCustomValue
      placeholder={placeholder}
      width="auto"
      minWidth={width}
      maxWidth={width * 2}
    />
  );
}
