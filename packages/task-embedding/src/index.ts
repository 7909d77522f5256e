export * from './descriptor.js';
export * from './embedding-config.js';
export * from './embedding-net.js';
export * from './split.js';
