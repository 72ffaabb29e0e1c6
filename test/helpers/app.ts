import { startServer, type RunningServer } from '../../src/server.js';
import { createTestDatabase, testLakehouseEnv, type TestDatabase } from './db.js';

export interface TestApp {
  server: RunningServer;
  url: string;
  database: TestDatabase;
  close(): Promise<void>;
}

/** The real server on a free port, over this test file's own fresh database. */
export async function startTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const database = await createTestDatabase();
  const server = await startServer({
    PATH: process.env.PATH,
    PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DATABASE_URL: database.url,
    // A fixed key, so that test servers never write one into the repository's .data.
    SECRET_KEY: Buffer.alloc(32, 7).toString('base64'),
    ...testLakehouseEnv(),
    ...env,
  });
  return {
    server,
    url: server.url,
    database,
    async close() {
      await server.close();
      await database.drop();
    },
  };
}
