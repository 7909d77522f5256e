/** The help texts of rpg-diffusion-decoder: light (the defaults table only), so --help stays quick. */
import { TRAIN_DEFAULTS } from './train-defaults.js';

export const TOOL = 'rpg-diffusion-decoder';

export const TOOL_HELP = `${TOOL}: train the RPG generator (recurrent prototype model + diffusion token decoder) on
tokenized checkpoints, generate new checkpoints with it, and inspect a trained generator.

From the repository root, run it as "pnpm exec rpg-diffusion-decoder ...".

Usage:
  ${TOOL} train --tokens <dir> --out <dir> [--config <train.json>] [options]
      Trains a generator on the tokens of a tokenizer directory (what "rpg-tokenizer tokenize --out" writes),
      with the settings of a pipeline config's "train" section.
  ${TOOL} generate --generator <dir> --tokens <dir> --out <dir> [options]
      Samples new checkpoints and writes them as gen-000.safetensors, gen-001.safetensors, ...
  ${TOOL} inspect <generator dir>
      Prints the configuration, parameter counts, steps trained and the last loss.
  ${TOOL} <command> --help
      The options of one command.

The tfjs backend is the fastest one available; set RPG_BACKEND (node-gpu, node, wasm, cpu) to force one.
`;

const D = TRAIN_DEFAULTS;

export const TRAIN_HELP = `${TOOL} train --tokens <dir> --out <dir> [--config <train.json>] [options]

Trains the recurrent prototype model and the diffusion token decoder jointly on every checkpoint of a tokenizer
directory, then writes the generator to --out (generator.json, generator.safetensors, training.json). --out must
not exist or be empty; it appears only once complete. This is the pipeline's train stage: the same settings, the
same defaults, the same training.

Required:
  --tokens <dir>            tokenizer directory: tokenizer.json, copied.safetensors, tokens.safetensors
  --out <dir>               where the generator goes

Settings: the pipeline config's "train" section (its keys as flags; a flag overrides the file):
  --config <file>           a JSON file holding a "train" section, or a whole pipeline config

Recurrent prototype model (train.prototype):
  --model <name>            mamba2 (default) | lstm | transformer | none
  --d <n>                   prototype width (default: the token size k)
  --layers <n>              sequence-model layers (default 2)
  --position <kind>         position embedding: 2d (default) | 1d | learnable
  --state-embedding <kind>  shared (default, as RPG): one row per state added at every position | per-position:
                            one row per state and token, so each run gets its own input at every token
  --states <mode>           permutation states: ${D.states} (default): one per training run, read from
                            <tokens>/tokens-meta.json or from checkpoint names that start with runNN- (as
                            rpg-checkpoint-harvest names them); checkpoint: one per training checkpoint

Diffusion decoder (train.decoder):
  --channels <list>         conv channels, symmetric, 1 at both ends (default ${D.decoder.channels.join(',')})
  --kernel <n>              conv width, odd (default ${D.decoder.kernel})
  --conditioning <kind>     ${D.decoder.conditioning} (default): a prototype and step projection per conv | shared
  --prediction <kind>       what the decoder outputs: ${D.decoder.prediction} (default, as RPG) | x0 | v
  --step-hidden <n>         hidden width of each step MLP (default: the token size, at most 1024)

Training:
  --steps <n>               optimiser steps (default ${D.steps})
  --lr <x>                  peak learning rate, cosine decay to 0 without warm-up (default ${D.lr})
  --batch-size <n>          checkpoints per step (default ${D.batchSize})
  --diffusion-batch <n>     (token, prototype) pairs per step (default ${D.diffusionBatch})
  --ema-decay <x>           decay of the weight average the generator ends with, in [0, 1); 0 keeps the last
                            weights (default ${D.emaDecay})
  --weight-decay <x>        AdamW weight decay (default ${D.weightDecay})
  --seed <n>                seed of every random choice, integer >= 0 (default ${D.seed})

Resuming:
  --resume-dir <dir>        keeps the latest resume state here (a step-NNNNNNNN/ directory). If it already holds
                            one, training continues from it (same tokens and options; --steps may be larger).
  --checkpoint-every <n>    save a resume state every n steps (default ${D.checkpointEvery}; needs --resume-dir)

Ctrl-C stops training after the current step and leaves the latest resume state in --resume-dir; run the same
command again to continue. A second Ctrl-C quits at once.
`;

export const GENERATE_HELP = `${TOOL} generate --generator <dir> --tokens <dir> --out <dir> [options]

Generates --count parameter sets: per model, a random permutation state, one pass of the recurrent model and the
diffusion sampler over all tokens (in chunks), then detokenization with the tokenizer state (copied tensors
included). Writes gen-000.safetensors, gen-001.safetensors, ... into --out and nothing else. --out must not exist
or be empty; it appears only once complete.

Required:
  --generator <dir>         a directory written by "${TOOL} train"
  --tokens <dir>            the tokenizer directory the generator was trained on
  --out <dir>               where the generated checkpoints go

Options:
  --count <n>               number of models (default 10)
  --seed <n>                sampling seed, integer >= 0 (default 0)
  --sampler <name>          ddim (default) | ddpm (all T steps)
  --steps <n>               DDIM steps (default 60; not with ddpm)
  --eta <x>                 DDIM stochasticity, >= 0; 0 is deterministic (default 0.05; not with ddpm)
  --chunk-size <n>          tokens decoded at once; bounds memory (default: as many as keep one activation
                            of the widest conv under 64 MiB, e.g. 512 rows of 256 with 128 channels)
  --clip <x>                clip the predicted clean tokens to [-x, x] at every step (default: off)
`;

export const INSPECT_HELP = `${TOOL} inspect <generator dir>

Prints a trained generator's configuration (recurrent model, decoder, noise schedule), its parameter counts, the
number of steps it was trained for and its last loss.
`;
