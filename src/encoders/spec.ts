/**
 * Choosing a router's encoder: `hashing` (the default, built in), `static` (a model2vec-layout
 * directory) or `mixed` (hashing and static features side by side). The CLI spells them
 * `--encoder hashing|static:DIR|mixed:DIR`; the library takes {@link EncoderChoice}.
 * @module
 */
import { RoutecoreError, invalidArgument } from '../errors.js';
import type { NativeTrainOptions } from '../addon/native.js';
import { STATIC_META, StaticModel } from './static.js';

/** The encoders a router can be trained with. */
export type EncoderKind = 'hashing' | 'static' | 'mixed';
export const ENCODER_KINDS: readonly EncoderKind[] = ['hashing', 'static', 'mixed'];

/** A text encoder for `train()`: which kind, and the static model of `static` and `mixed`. */
export interface EncoderChoice {
  kind: EncoderKind;
  /** `static`, `mixed`: the model directory (model2vec layout) or a loaded {@link StaticModel}. */
  model?: string | StaticModel;
  /**
   * `static`, `mixed`: true (default) writes the tokenizer and table into the `.router` file, which
   * then loads anywhere; false records only the directory and the files' sha256, and loading needs
   * the same files (`RouterOptions.staticModel` points elsewhere).
   */
  embed?: boolean;
  /** `static`, `mixed`: tokens of a prompt averaged at most; default 512 (model2vec's). */
  maxTokens?: number;
  /** `static`, `mixed`: the table held as `f16` (default, faster) or `f32` ({@link StaticModelOptions.precision}). */
  precision?: 'f16' | 'f32';
}

/**
 * Parses `hashing`, `static:DIR` or `mixed:DIR` (`name` is what errors call the value, e.g.
 * `--encoder`).
 */
export function parseEncoderSpec(spec: string, name = 'encoder'): EncoderChoice {
  if (typeof spec !== 'string') throw invalidArgument(name, '"hashing", "static:DIR" or "mixed:DIR"', spec);
  if (spec === 'hashing') return { kind: 'hashing' };
  const m = /^(static|mixed):(.+)$/.exec(spec);
  if (!m) {
    throw new RoutecoreError(
      'ERR_ROUTECORE_INVALID_ARGUMENT',
      `${name} "${spec}" is not an encoder: expected hashing, static:DIR or mixed:DIR (DIR: a model2vec-layout directory with tokenizer.json and model.safetensors)`,
    );
  }
  return { kind: m[1] as EncoderKind, model: m[2]! };
}

/** The spelling {@link parseEncoderSpec} reads, for reports. */
export function encoderSpec(choice: EncoderChoice): string {
  if (choice.kind === 'hashing') return 'hashing';
  const dir = choice.model instanceof StaticModel ? choice.model.dir : choice.model;
  return `${choice.kind}:${dir}`;
}

/**
 * @internal (its result names native trainer options, which the declarations do not ship)
 * Turns a choice into what the native trainer takes (the static encoder handle, mixed, embed) and
 * the metadata that names the model in the router file. `name` prefixes error messages.
 */
export function staticTrainingOptions(choice: EncoderChoice, name = 'options.encoder'): {
  native: Pick<NativeTrainOptions, 'staticEncoder' | 'mixed' | 'embedStatic'>;
  metadata: Record<string, string>;
  model?: StaticModel;
} {
  if (typeof choice !== 'object' || choice === null || !ENCODER_KINDS.includes(choice.kind)) {
    throw invalidArgument(`${name}.kind`, ENCODER_KINDS.map((k) => `"${k}"`).join(', '), choice?.kind);
  }
  if (choice.kind === 'hashing') return { native: {}, metadata: {} };
  if (choice.model === undefined) throw invalidArgument(`${name}.model`, `a model directory for the ${choice.kind} encoder`, choice.model);
  if (choice.embed !== undefined && typeof choice.embed !== 'boolean') throw invalidArgument(`${name}.embed`, 'true or false', choice.embed);
  const model = choice.model instanceof StaticModel ? choice.model : StaticModel.loadSync(choice.model, { maxTokens: choice.maxTokens, precision: choice.precision });
  const embed = choice.embed ?? true;
  return {
    native: { staticEncoder: model.handle, mixed: choice.kind === 'mixed', embedStatic: embed },
    metadata: { [STATIC_META.model]: model.dir, [STATIC_META.files]: JSON.stringify(model.files) },
    model,
  };
}

/**
 * The encoder every member of a `train --auto` grid trains with, given the caller's
 * `options.encoder`: undefined for hashing (the grid's own per-member hashing options apply). For
 * `static` and `mixed` the model travels to the worker threads as its directory (a loaded
 * StaticModel cannot cross threads) and the members name it instead of carrying the table: the
 * ensemble's members ride in the router file's header, where a table per member would not fit.
 */
export function autoMemberEncoder(encoder: Partial<EncoderChoice> | undefined): EncoderChoice | undefined {
  if (encoder?.kind === undefined || encoder.kind === 'hashing') return undefined;
  const model = encoder.model instanceof StaticModel ? encoder.model.dir : encoder.model;
  if (typeof model !== 'string' || model === '') throw invalidArgument('options.encoder.model', `a model directory for the ${encoder.kind} encoder`, encoder.model);
  const precision = encoder.precision ?? (encoder.model instanceof StaticModel ? encoder.model.precision : undefined);
  return { kind: encoder.kind, model, embed: false, ...(encoder.maxTokens !== undefined ? { maxTokens: encoder.maxTokens } : {}), ...(precision ? { precision } : {}) };
}
