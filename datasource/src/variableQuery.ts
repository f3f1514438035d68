import type { ProvisiondVariableQuery, VariableQueryType } from './types';

/**
 * Turns whatever a dashboard saved as a variable query into a valid one: a plain string (a
 * variable first created with another editor) becomes the search text of a `jobs` query, and an
 * unknown queryType falls back to `jobs`.
 */
export function normalizeVariableQuery(
  saved: Partial<ProvisiondVariableQuery> | string | undefined,
  index = 0
): ProvisiondVariableQuery {
  if (saved === undefined || typeof saved === 'string') {
    return { refId: `variable-${index}`, queryType: 'jobs', query: saved ?? '' };
  }
  const queryType: VariableQueryType = saved.queryType === 'identities' ? 'identities' : 'jobs';
  const out: ProvisiondVariableQuery = {
    ...saved,
    refId: saved.refId || `variable-${index}`,
    queryType,
    query: saved.query ?? '',
  };
  if (queryType === 'jobs' || !out.jobId) {
    delete out.jobId;
  }
  return out;
}
