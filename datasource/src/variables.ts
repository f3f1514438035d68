import { CustomVariableSupport, type DataQueryRequest, type DataQueryResponse } from '@grafana/data';
import type { Observable } from 'rxjs';

import { VariableQueryEditor } from './components/VariableQueryEditor';
import type { DataSource } from './datasource';
import type { ProvisiondOptions, ProvisiondQuery, ProvisiondVariableQuery } from './types';
import { normalizeVariableQuery } from './variableQuery';

/**
 * Template-variable support: a variable's query is a `jobs` or `identities` query that runs
 * through the backend like any other; the backend answers with a frame of `text` and `value`
 * fields, which Grafana turns into the variable's options.
 */
export class ProvisiondVariableSupport extends CustomVariableSupport<
  DataSource,
  ProvisiondVariableQuery,
  ProvisiondQuery,
  ProvisiondOptions
> {
  /** The editor shown in the variable settings. */
  editor = VariableQueryEditor;

  constructor(private readonly datasource: DataSource) {
    super();
  }

  /** Runs the variable's query through the backend (template variables applied on the way). */
  query(request: DataQueryRequest<ProvisiondVariableQuery>): Observable<DataQueryResponse> {
    return this.datasource.query({ ...request, targets: request.targets.map(normalizeVariableQuery) });
  }
}
