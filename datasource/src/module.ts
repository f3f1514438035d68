import { DataSourcePlugin } from '@grafana/data';

import { ConfigEditor } from './components/ConfigEditor';
import { QueryEditor } from './components/QueryEditor';
import { DataSource } from './datasource';
import type { ProvisiondOptions, ProvisiondQuery, ProvisiondSecureOptions } from './types';

/**
 * The plugin Grafana loads from dist/module.js. Variable support (jobs, identities) is set by
 * the DataSource constructor (this.variables).
 */
export const plugin = new DataSourcePlugin<DataSource, ProvisiondQuery, ProvisiondOptions, ProvisiondSecureOptions>(
  DataSource
)
  .setConfigEditor(ConfigEditor)
  .setQueryEditor(QueryEditor);
