export { freePort, startEmbeddedPostgres, type EmbeddedServer } from '../../src/demo/embedded-postgres.js';
