import { CoreApp, type DataSourceInstanceSettings, type ScopedVars } from '@grafana/data';
import { DataSourceWithBackend, getTemplateSrv } from '@grafana/runtime';

import {
  DEFAULT_QUERY,
  type IdentityInfo,
  type JobInfo,
  type ProvisiondOptions,
  type ProvisiondQuery,
  queryTypeInfo,
} from './types';
import { ProvisiondVariableSupport } from './variables';

/**
 * The provisiond datasource: every query runs in the Go backend (datasource/pkg), which calls
 * the provisiond API with the token from secureJsonData. The frontend only resolves template
 * variables, drops incomplete queries and serves the editors' look-ups (jobs, identities).
 */
export class DataSource extends DataSourceWithBackend<ProvisiondQuery, ProvisiondOptions> {
  constructor(instanceSettings: DataSourceInstanceSettings<ProvisiondOptions>) {
    super(instanceSettings);
    this.variables = new ProvisiondVariableSupport(this);
  }

  /** The query a new query row starts with: logs of events in Explore, quarantine in alerting. */
  override getDefaultQuery(app: CoreApp): Partial<ProvisiondQuery> {
    switch (app) {
      case CoreApp.Explore:
        return { queryType: 'events', format: 'logs' };
      case CoreApp.UnifiedAlerting:
      case CoreApp.CloudAlerting:
        return { queryType: 'quarantine' };
      default:
        return DEFAULT_QUERY;
    }
  }

  /**
   * Resolves template variables in every string field of the query and in each groupBy entry.
   * A groupBy entry holding a multi-value variable expands to one entry per value.
   * refId and key identify the query to Grafana and are left alone.
   */
  override applyTemplateVariables(query: ProvisiondQuery, scopedVars: ScopedVars): ProvisiondQuery {
    return interpolateQuery(query, scopedVars);
  }

  /** Hides queries that cannot run yet (a required field is empty), so panels show no error. */
  override filterQuery(query: ProvisiondQuery): boolean {
    return !query.hide && validateQuery(query) === undefined;
  }

  /** Lists the jobs (backend resource `GET jobs`). */
  getJobs(): Promise<JobInfo[]> {
    return this.getResource<JobInfo[]>('jobs');
  }

  /**
   * Searches source identities (backend resource `GET identities`). jobId may hold template
   * variables; they are resolved first, and '' searches all jobs.
   */
  searchIdentities(query: string, jobId = ''): Promise<IdentityInfo[]> {
    return this.getResource<IdentityInfo[]>('identities', {
      query,
      jobId: getTemplateSrv().replace(jobId),
    });
  }
}

/** Fields of a query that identify it to Grafana; variables are never applied to them. */
const IDENTIFYING_FIELDS: ReadonlySet<string> = new Set(['refId', 'key']);

/** Applies template variables to a query; see {@link DataSource.applyTemplateVariables}. */
export function interpolateQuery(query: ProvisiondQuery, scopedVars: ScopedVars): ProvisiondQuery {
  const templateSrv = getTemplateSrv();
  const out: Record<string, unknown> = { ...query };
  for (const [name, value] of Object.entries(query)) {
    if (typeof value === 'string' && !IDENTIFYING_FIELDS.has(name)) {
      out[name] = templateSrv.replace(value, scopedVars);
    }
  }
  if (query.groupBy) {
    const groupBy: string[] = [];
    for (const entry of query.groupBy) {
      for (const value of templateSrv.replace(entry, scopedVars, 'csv').split(',')) {
        const trimmed = value.trim();
        if (trimmed !== '' && !groupBy.includes(trimmed)) {
          groupBy.push(trimmed);
        }
      }
    }
    out.groupBy = groupBy;
  }
  return out as unknown as ProvisiondQuery;
}

/**
 * Says what a query lacks to run, or undefined when it can run. Template variables count as
 * values (they are resolved later, and the backend rejects what is still empty then).
 */
export function validateQuery(query: Partial<ProvisiondQuery>): string | undefined {
  const info = queryTypeInfo(query.queryType);
  if (!info) {
    return query.queryType ? `Unknown query type "${query.queryType}".` : 'Choose a query type.';
  }
  switch (info.value) {
    case 'userPath':
      return isBlank(query.identity) && isBlank(query.eventId)
        ? 'User path needs an identity or an event id.'
        : undefined;
    case 'history':
      return isBlank(query.identity) ? 'Identity history needs an identity.' : undefined;
    case 'properties':
      return isBlank(query.identity) && isBlank(query.eventId)
        ? 'Modified properties needs an identity or an event id.'
        : undefined;
    default:
      return undefined;
  }
}

function isBlank(value: string | undefined): boolean {
  return value === undefined || value.trim() === '';
}
