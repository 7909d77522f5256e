export * from './dev-server.js';
export * from './paths.js';
export * from './temporal-cli.js';
