// The workflows a worker registers (this file is the worker's `workflowsPath`).
export { rpgPipeline } from './pipeline.js';
export { rpgUnseenPipeline } from './unseen-pipeline.js';
