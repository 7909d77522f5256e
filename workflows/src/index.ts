export * from './pipeline-config.js';
export * from './quality-figures.js';
export * from './run-local.js';
export * from './run-unseen-local.js';
export * from './summary.js';
export * from './unseen-config.js';
export * from './unseen-figures.js';
