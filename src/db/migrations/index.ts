import type { Migration } from 'kysely';
import * as initial from './0001-initial.js';
import * as oauth from './0002-oauth.js';
import * as lakehouse from './0003-lakehouse.js';
import * as assets from './0004-assets.js';
import * as oauthRefreshGrant from './0005-oauth-refresh-grant.js';
import * as oauthRevocations from './0006-oauth-revocations.js';
import * as lakehouseTables from './0007-lakehouse-tables.js';
import * as lakehouseLegacy from './0008-lakehouse-legacy.js';
import * as environmentTimeZone from './0009-environment-time-zone.js';
import * as insightDeletes from './0010-insight-deletes.js';
import * as docSections from './0011-doc-sections.js';
import * as tasks from './0012-tasks.js';
import * as browserSessions from './0013-browser-sessions.js';
import * as resultFiles from './0014-result-files.js';
import * as scanBudget from './0015-scan-budget.js';
import * as queryJobs from './0016-query-jobs.js';

/**
 * Every migration, by name; names sort in the order they run. A static map rather than a directory scan,
 * so migrations are bundled like any other module. Add a file `NNNN-what.ts` and a line here.
 */
export const migrations: Record<string, Migration> = {
  '0001-initial': initial,
  '0002-oauth': oauth,
  '0003-lakehouse': lakehouse,
  '0004-assets': assets,
  '0005-oauth-refresh-grant': oauthRefreshGrant,
  '0006-oauth-revocations': oauthRevocations,
  '0007-lakehouse-tables': lakehouseTables,
  '0008-lakehouse-legacy': lakehouseLegacy,
  '0009-environment-time-zone': environmentTimeZone,
  '0010-insight-deletes': insightDeletes,
  '0011-doc-sections': docSections,
  '0012-tasks': tasks,
  '0013-browser-sessions': browserSessions,
  '0014-result-files': resultFiles,
  '0015-scan-budget': scanBudget,
  '0016-query-jobs': queryJobs,
};
