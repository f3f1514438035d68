import type { DataSourceJsonData } from '@grafana/data';
import type { DataQuery } from '@grafana/schema';

/**
 * What a query asks the backend for. The backend dispatches on it (QueryTypeMux), so every value
 * here has a handler in datasource/pkg.
 */
export type QueryType =
  | 'status'
  | 'quarantine'
  | 'progress'
  | 'eventCounts'
  | 'events'
  | 'topErrors'
  | 'cycles'
  | 'userPath'
  | 'history'
  | 'jobs'
  | 'identities'
  | 'statusChanges'
  | 'statusTimeline'
  | 'properties';

/** The query types a template variable can use; the backend answers them with `text`/`value` fields. */
export type VariableQueryType = Extract<QueryType, 'jobs' | 'identities'>;

/** How the `events` query returns its rows. */
export type EventsFormat = 'logs' | 'table';

/** Sort order of list queries (events, cycles, history): newest first (`desc`) or oldest first. */
export type SortOrder = 'desc' | 'asc';

/**
 * A query of the provisiond datasource: the JSON the frontend sends to the backend (after
 * template variables are applied) and the JSON saved in dashboards and alert rules. Alert rules
 * reach the backend without the frontend, so the backend accepts this model as saved, with
 * variables unresolved and optional fields absent.
 */
export interface ProvisiondQuery extends DataQuery {
  /** The kind of data asked for; see {@link QUERY_TYPES}. */
  queryType: QueryType;
  /** Job id; '' or absent means all jobs. */
  jobId?: string;
  /**
   * An identity: display name, source id (e.g. an employee id) or target id. `events`: filter;
   * `userPath`: the path of the latest event of this identity; `history`: required.
   */
  identity?: string;
  /** `events`: match `identity` as a prefix instead of exactly. */
  identityPrefix?: boolean;
  /** `userPath`: the event whose path to show (wins over `identity`). */
  eventId?: string;
  /** `events`: only events of this sync cycle. */
  cycleId?: string;
  /** `events`/`eventCounts` filter: create, update, delete, disable, stagedDelete, other. */
  action?: string;
  /** `events`/`eventCounts` filter: success, warning, failure, skipped. */
  status?: string;
  /** `events`/`eventCounts` filter: an error code such as `EntryConflict`. */
  errorCode?: string;
  /** `events`/`eventCounts` filter: `User` or `Group`. */
  identityType?: string;
  /** `eventCounts`: series are split by these dimensions (any of {@link GROUP_BY_FIELDS}). */
  groupBy?: string[];
  /**
   * `eventCounts`: bucket width as a Go duration in whole minutes ('5m', '1h'); empty means
   * derived from the panel interval.
   */
  interval?: string;
  /** `events`, `history`: 'logs' (default, a log-lines frame) or 'table'. */
  format?: EventsFormat;
  /** Row limit; see {@link LIMITS} for each type's default and maximum. */
  limit?: number;
  /** `events`, `cycles`, `history`: 'desc' (default, newest first) or 'asc'. */
  order?: SortOrder;
  /** `jobs`/`identities` (variable queries): search text; empty lists everything. */
  query?: string;
  /** `quarantine`: which number per job (one of {@link QUARANTINE_METRICS}; default `quarantined`). */
  metric?: string;
}

/** A template-variable query: a {@link ProvisiondQuery} of type `jobs` or `identities`. */
export interface ProvisiondVariableQuery extends ProvisiondQuery {
  /** `jobs` lists job ids, `identities` lists source identity ids. */
  queryType: VariableQueryType;
}

/** The datasource settings Grafana stores in plain text (jsonData). */
export interface ProvisiondOptions extends DataSourceJsonData {
  /** Base URL of the provisiond API, e.g. `http://provisiond:8080` (without `/api/v1`). */
  apiUrl: string;
  /** Accept any TLS certificate from the API (test setups only). */
  tlsSkipVerify?: boolean;
  /** Timeout of one API request in seconds; the backend applies its default when absent. */
  timeoutSeconds?: number;
}

/**
 * The settings Grafana stores encrypted (secureJsonData). They are write-only: the browser can
 * set them, but Grafana only reports whether they are set (secureJsonFields), never the value.
 */
export interface ProvisiondSecureOptions {
  /** The provisiond reader token, sent by the backend as `Authorization: Bearer …`. */
  apiToken: string;
}

/** A job as listed by the backend resource `GET jobs`. */
export interface JobInfo {
  /** Job id, the value queries carry in `jobId`. */
  id: string;
  /** Human-readable job name. */
  name: string;
}

/** An identity as listed by the backend resource `GET identities?query=…&jobId=…`. */
export interface IdentityInfo {
  /** Source identity id, the value queries carry in `identity`. */
  value: string;
  /** Display text, e.g. `Alice Smith (E0001)`. */
  label: string;
  /** The job the identity was seen in. */
  jobId: string;
  /** `User` or `Group`. */
  identityType: string;
}

/** Every field of {@link ProvisiondQuery} that a query type may use (refId etc. excluded). */
export type QueryField = Exclude<keyof ProvisiondQuery, keyof DataQuery>;

/** Describes one query type for the editors and the documentation. */
export interface QueryTypeInfo {
  /** The `queryType` value. */
  value: QueryType;
  /** Short name shown in the selector. */
  label: string;
  /** One line saying what the query returns. */
  description: string;
  /** The fields this type uses, in editor order. The editor shows only these. */
  fields: readonly QueryField[];
}

/** All query types, in the order the editor offers them. */
export const QUERY_TYPES: readonly QueryTypeInfo[] = [
  {
    value: 'status',
    label: 'Status',
    description: 'Job status: state code, progress, last execution, steady state (table)',
    fields: ['jobId'],
  },
  {
    value: 'quarantine',
    label: 'Quarantine',
    description: 'One number per job: quarantined, escrows, held deletes, time since success… (alertable)',
    fields: ['jobId', 'metric'],
  },
  {
    value: 'progress',
    label: 'Cycle progress',
    description: 'Progress of the recent cycles per job: percent, completed and total objects (time series)',
    fields: ['jobId', 'limit'],
  },
  {
    value: 'eventCounts',
    label: 'Event counts',
    description: 'Provisioning events per interval, split by the chosen dimensions (time series, alertable)',
    fields: ['jobId', 'action', 'status', 'errorCode', 'identityType', 'groupBy', 'interval'],
  },
  {
    value: 'events',
    label: 'Events',
    description: 'Provisioning events (provisioning logs) with their error information (logs or table)',
    fields: [
      'jobId',
      'identity',
      'identityPrefix',
      'cycleId',
      'action',
      'status',
      'errorCode',
      'identityType',
      'format',
      'limit',
      'order',
    ],
  },
  {
    value: 'topErrors',
    label: 'Top errors',
    description: 'The most frequent error codes in the time range (table)',
    fields: ['jobId', 'limit'],
  },
  {
    value: 'cycles',
    label: 'Cycles',
    description: 'Sync cycles with their state, counts and duration (table)',
    fields: ['jobId', 'limit', 'order'],
  },
  {
    value: 'userPath',
    label: 'User path',
    description: "One identity's provisioning path: steps and connector calls as a trace",
    fields: ['jobId', 'identity', 'eventId'],
  },
  {
    value: 'history',
    label: 'Identity history',
    description: 'Every event of one identity across cycles (logs or table)',
    fields: ['jobId', 'identity', 'format', 'limit', 'order'],
  },
  {
    value: 'jobs',
    label: 'Jobs',
    description: 'Job ids and names (text/value; for template variables)',
    fields: ['query'],
  },
  {
    value: 'identities',
    label: 'Identities',
    description: 'Source identities matching a search (text/value; for template variables)',
    fields: ['query', 'jobId'],
  },
  {
    value: 'statusChanges',
    label: 'Job history',
    description: 'When each job changed status or quarantine reason, with the failing request and object (table)',
    fields: ['jobId', 'limit', 'order'],
  },
  {
    value: 'statusTimeline',
    label: 'Job timeline',
    description: "Each job's status code over time, mapped to its name (time series for a state timeline)",
    fields: ['jobId'],
  },
  {
    value: 'properties',
    label: 'Modified properties',
    description: "The attribute changes of one event, or of an identity's events (table)",
    fields: ['jobId', 'identity', 'eventId', 'limit', 'order'],
  },
];

/** Looks up the description of a query type; undefined for an unknown (e.g. future) type. */
export function queryTypeInfo(queryType: string | undefined): QueryTypeInfo | undefined {
  return QUERY_TYPES.find((t) => t.value === queryType);
}

/** Values of `action` (Entra's provisioningAction). */
export const ACTIONS = ['create', 'update', 'delete', 'disable', 'stagedDelete', 'other'] as const;

/** Values of `status` (Entra's provisioningResult). */
export const STATUSES = ['success', 'warning', 'failure', 'skipped'] as const;

/** Values of `identityType`. */
export const IDENTITY_TYPES = ['User', 'Group'] as const;

/** The dimensions `eventCounts` can group by. */
export const GROUP_BY_FIELDS = ['action', 'status', 'errorCode', 'jobId', 'identityType'] as const;

/**
 * Error codes the engine reports (provisioning/errors.go), offered as suggestions; the error
 * code filter accepts any other value too (connector-specific codes, template variables).
 */
export const KNOWN_ERROR_CODES = [
  'ConnectionFailed',
  'DuplicateTargetEntries',
  'EntryConflict',
  'ExpressionEvaluationFailed',
  'ImportSkipped',
  'InsufficientRights',
  'InternalError',
  'InternalServerError',
  'InvalidAnchor',
  'MandatoryFieldsMissing',
  'PreconditionFailed',
  'SourceReadFailed',
  'Timeout',
  'TooManyRequests',
  'Unauthorized',
  'UnableToResolveReferenceAttributeValue',
  'UnprocessableEntity',
] as const;

/** The `limit` of each query type that has one: the default (when absent) and the maximum. */
export const LIMITS: Partial<Record<QueryType, { default: number; max: number }>> = {
  events: { default: 100, max: 5000 },
  history: { default: 100, max: 5000 },
  topErrors: { default: 10, max: 100 },
  cycles: { default: 50, max: 1000 },
  progress: { default: 50, max: 1000 },
  statusChanges: { default: 100, max: 1000 },
  properties: { default: 100, max: 5000 },
};

/** The numbers the `quarantine` query returns per job (`metric`), each alertable. */
export const QUARANTINE_METRICS: ReadonlyArray<{ value: string; label: string; description: string }> = [
  { value: 'quarantined', label: 'Quarantined', description: '1 while the job is quarantined (labels job, reason)' },
  {
    value: 'credentialFailure',
    label: 'Credential failure',
    description: '1 while the target refuses the credentials (Unauthorized, InsufficientRights)',
  },
  { value: 'heldDeletes', label: 'Held deletes', description: 'Deletes and disables held by the deletion breaker' },
  { value: 'escrows', label: 'Escrows', description: 'Objects waiting for a retry' },
  {
    value: 'sinceLastSuccessSeconds',
    label: 'Seconds since last success',
    description: 'Time since the last successful cycle ended',
  },
  {
    value: 'intervalsSinceLastSuccess',
    label: 'Intervals since last success',
    description: 'Time since the last successful cycle, in schedule intervals',
  },
  { value: 'successiveFailures', label: 'Successive failures', description: 'Cycles that failed completely in a row' },
  { value: 'progressPercent', label: 'Progress %', description: 'Progress of the running (or last) cycle' },
];

/** The query a new panel starts with. */
export const DEFAULT_QUERY: Partial<ProvisiondQuery> = {
  queryType: 'status',
};
