/**
 * What the pipeline workflow, its workers and its clients agree on: task queues, the progress query, the signal an
 * activity sends after each durable training checkpoint, and the shapes of input, progress and result. Plain data
 * and Temporal definitions only, so workflow code and clients can both import it.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import { CHECKPOINT_SIGNAL } from './executor.js';

/** Harvest, tokenize, collect and evaluate run here, and the workflow itself. */
export const CPU_QUEUE = 'rpg-cpu';
/** Generator training and generation run here (a worker on a machine with a GPU; any worker may serve both). */
export const GPU_QUEUE = 'rpg-gpu';
export const TASK_QUEUES = [CPU_QUEUE, GPU_QUEUE] as const;
export type TaskQueue = (typeof TASK_QUEUES)[number];

export const WORKFLOW_TYPE = 'rpgPipeline';
/** The unseen-task experiment: harvest per task, a task-conditioned generator, evaluation per task. */
export const UNSEEN_WORKFLOW_TYPE = 'rpgUnseenPipeline';

/** An artifact reference (as `@rpg/core` defines it), restated so workflow code needs no runtime import. */
export interface Ref {
  uri: string;
  sha256: string;
  bytes: number;
  kind: string;
}

export interface PipelineInput {
  /** The experiment config, as JSON; the first activity validates it (a bad field fails the run at once). */
  config: unknown;
  /** How long an activity may go without a heartbeat before Temporal retries it elsewhere (default 2 minutes). */
  heartbeatTimeout?: string;
  /** Attempts per activity before the pipeline fails (default 5); bad input is never retried. */
  maxAttempts?: number;
}

export const STAGES = [
  'validate',
  'import',
  'harvest',
  'collect',
  'tokenize',
  'train',
  'generate',
  'evaluate',
] as const;
export type StageName = (typeof STAGES)[number];

export interface StageProgress {
  /** `skipped`: the config leaves this stage out. */
  status: 'pending' | 'running' | 'done' | 'skipped';
  /** Units finished out of `total`: runs for harvest, steps (at the last durable checkpoint) for train, models
   * for generate, else 0 or 1. */
  done: number;
  total: number;
  /** Wall-clock seconds, once done. */
  seconds?: number;
}

export interface PipelineRefs {
  runs?: Ref[];
  checkpoints?: Ref;
  tokens?: Ref;
  generator?: Ref;
  models?: Ref[];
  generated?: Ref;
  report?: Ref;
}

/** What `rpg status` shows of either workflow: its stages in order, the running one, training's last checkpoint. */
export interface ProgressView {
  stage: string;
  stages: Record<string, StageProgress>;
  loss?: number;
  resumeRef?: Ref;
}

/** A workflow's progress record (the `progress` query's answer), over its stage names and artifact refs. */
export interface WorkflowProgress<S extends string, R> {
  /** The running stage, or where the pipeline ended. */
  stage: S | 'done' | 'failed' | 'cancelled';
  stages: Record<S, StageProgress>;
  /** Training loss at the latest durable checkpoint (then the final one). */
  loss?: number;
  /** The latest durable training checkpoint. */
  resumeRef?: Ref;
  refs: R;
}

export type PipelineProgress = WorkflowProgress<StageName, PipelineRefs>;

export interface PipelineResult {
  name: string;
  refs: Required<PipelineRefs>;
  /** Where the worker that evaluated stored `report.json` and `report.html`. */
  reportDir: string;
  stageSeconds: Record<string, number>;
  /** The attempt of training that finished and the step it continued from (null: from 0, or found done). */
  train: { attempt: number; resumedFrom: number | null };
}

/** Details of a durable training checkpoint, signalled by the training activity. */
export interface CheckpointDetails {
  step: number;
  total: number;
  loss?: number;
  resumeRef: Ref;
}

export const UNSEEN_STAGES = [
  'validate',
  'base',
  'harvest-seen',
  'harvest-unseen',
  'harvest-scratch',
  'collect',
  'tokenize',
  'train',
  'train-ablation',
  'generate',
  'generate-ablation',
  'evaluate',
] as const;
export type UnseenStageName = (typeof UNSEEN_STAGES)[number];

export interface UnseenRefs {
  base?: Ref;
  /** Per seen task, its harvest runs. */
  seenRuns?: Ref[][];
  /** Per unseen task, its trained networks (the originals the generated ones are compared with). */
  unseenOriginals?: Ref[];
  checkpoints?: Ref;
  tokens?: Ref;
  generator?: Ref;
  ablationGenerator?: Ref;
  report?: Ref;
}

export type UnseenProgress = WorkflowProgress<UnseenStageName, UnseenRefs>;

export interface UnseenPipelineResult {
  name: string;
  refs: UnseenRefs;
  /** Where the worker that evaluated stored `report.json` and `report.html` (a per-task report). */
  reportDir: string;
  stageSeconds: Record<string, number>;
  tasks: { seen: number; unseen: number };
}

export const progressQuery = defineQuery<PipelineProgress | UnseenProgress>('progress');
export const checkpointSignal = defineSignal<[CheckpointDetails]>(CHECKPOINT_SIGNAL);
