export * from './pipeline-config.js';
export * from './quality-figures.js';
export * from './run-local.js';
export * from './summary.js';
