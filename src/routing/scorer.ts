/**
 * The scorer: everything between features and a prompts × models score matrix. It owns the native
 * predictor handle and, for `train --auto` routers, the extra ensemble members whose scores are
 * averaged in, the blend/calibration applied after them (postprocess.ts), and the cost network that
 * predicts each model's cost share by prompt text. It knows nothing of policies, registries or
 * aliases; the router turns its matrices into decisions.
 * @module
 */
import { resolveBackend } from '../addon/backend.js';
import { binding, rethrowNative, type NativeRouterHandle } from '../addon/native.js';
import { RoutecoreError } from '../errors.js';
import { COST_KEY, POSTPROCESS_KEY, ScorePostprocess, costFromShare, memberKey, parsePostprocess, type PostprocessSpec } from './postprocess.js';
import { KnnIndex, TFIDF_KNN_KEY, encodeRows, parseTfidfKnn, type CsrRows } from './tfidf-knn.js';

/**
 * One batch of features: packed UTF-8 prompts for a router whose artifact encodes text (hashing,
 * static, mixed), or `count × inputDim` floats for a router trained on embeddings.
 */
export type ScoreInput = { text: Uint8Array; offsets: Uint32Array; rows?: undefined } | { rows: Float32Array; text?: undefined; offsets?: undefined };

/** The native predictor plus the `train --auto` members, postprocessing and cost network. */
export class Scorer {
  readonly #native: NativeRouterHandle;
  readonly #members: NativeRouterHandle[] = [];
  readonly #post: ScorePostprocess | undefined;
  readonly #spec: PostprocessSpec | undefined;
  readonly #costNet: NativeRouterHandle | undefined;
  readonly #costMean: Float64Array;
  /** A TF-IDF kNN router file (tfidf-knn.ts): the native handle encodes, this index scores. */
  readonly #knn: KnnIndex | undefined;
  #memberOut = new Float32Array(0);

  /**
   * Takes ownership of `native` and loads the members and cost network its metadata (`meta`) names,
   * on the same backend with `threads` threads. A bad artifact frees what was loaded and throws;
   * `native` itself stays the caller's to free in that case.
   */
  constructor(native: NativeRouterHandle, meta: Readonly<Record<string, string>>, threads: number | undefined) {
    this.#native = native;
    if (meta[TFIDF_KNN_KEY] !== undefined) {
      if (native.encoder !== 'hashing') throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', `router file metadata "${TFIDF_KNN_KEY}" needs a hashing router (its TF-IDF encoder), not a ${native.encoder} one`);
      const spec = parseTfidfKnn(meta[TFIDF_KNN_KEY]!, native.outputs);
      this.#knn = new KnnIndex(encodeRows(native, spec.prompts), spec.y, native.outputs, native.inputDim, spec.k);
    }
    let costNet: NativeRouterHandle | undefined;
    let costMean = new Float64Array(0);
    if (meta[POSTPROCESS_KEY] !== undefined) {
      const spec = parsePostprocess(meta[POSTPROCESS_KEY]!, native.outputs);
      const t = resolveBackend({ threads }).threads;
      for (let k = 1; k <= spec.members; k++) {
        const raw = meta[memberKey(k)];
        if (raw === undefined) {
          this.#disposeMembers();
          throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', `router file metadata has no "${memberKey(k)}" (ensemble member ${k} of ${spec.members})`);
        }
        let member: NativeRouterHandle;
        try {
          // Members of a static or mixed router name its model: they share the router's.
          member = binding().NativeRouter.load(Buffer.from(raw, 'base64'), `ensemble member ${k}`, native.backend, t, native.encoder === 'static' || native.encoder === 'mixed' ? native : undefined);
        } catch (err) {
          this.#disposeMembers();
          rethrowNative(err); // the native message already names the member
        }
        this.#members.push(member);
        if (member.metadata()[TFIDF_KNN_KEY] !== undefined) {
          this.#disposeMembers();
          throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', `ensemble member ${k} is a TF-IDF kNN router; members must be native predictors (a TF-IDF kNN is served alone)`);
        }
        if (member.outputs !== native.outputs || member.encoder !== native.encoder) {
          this.#disposeMembers();
          throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', `ensemble member ${k} scores ${member.outputs} models with a ${member.encoder} encoder, not ${native.outputs} with ${native.encoder}`);
        }
      }
      if (spec.costNetwork) {
        const raw = meta[COST_KEY];
        const fail = (message: string): never => {
          this.#disposeMembers();
          costNet?.dispose();
          throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', message);
        };
        if (raw === undefined) fail(`router file metadata has no "${COST_KEY}" (the cost network its "${POSTPROCESS_KEY}" names)`);
        try {
          costNet = binding().NativeRouter.load(Buffer.from(raw!, 'base64'), 'cost network', native.backend, t);
        } catch (err) {
          this.#disposeMembers();
          rethrowNative(err); // the native message already names the cost network
        }
        if (costNet!.outputs !== native.outputs) fail(`the cost network predicts ${costNet!.outputs} models, not ${native.outputs}`);
        costMean = Float64Array.from(spec.costNetwork.mean);
      }
      this.#spec = spec;
      this.#post = new ScorePostprocess(spec, native.outputs);
    }
    this.#costNet = costNet;
    this.#costMean = costMean;
  }

  /** The native predictor (metadata, encoder kind, backend, serialization). */
  get native(): NativeRouterHandle {
    return this.#native;
  }

  /** The blend, calibration and cost model applied after the native scores; undefined when none. */
  get postprocess(): PostprocessSpec | undefined {
    return this.#spec;
  }

  /** Whether a cost network predicts per-prompt costs (`train --auto`, cost by prompt text). */
  get hasCostNetwork(): boolean {
    return this.#costNet !== undefined;
  }

  /** Scores `count` prompts into `out` (count × models) on the calling thread. */
  scoreSync(input: ScoreInput, count: number, out: Float32Array): void {
    if (this.#knn) this.#knnSync(input, count, out);
    else scoreSyncWith(this.#native, input, count, out);
    if (this.#post) this.#postSync(input, count, out);
  }

  /**
   * {@link Scorer.scoreSync} for packed text, the `routeSync` hot path: the native call without
   * the input-kind dispatch (measured: bench/routesync-ab.ts).
   */
  scoreTextSync(input: { text: Uint8Array; offsets: Uint32Array }, count: number, out: Float32Array): void {
    if (this.#knn) this.#knnSync(input, count, out);
    else this.#native.scoreSync(input.text, input.offsets, count, out);
    if (this.#post) this.#postSync(input, count, out);
  }

  /**
   * Whether batches are better scored by {@link score} than {@link scoreSync} whatever their size:
   * a TF-IDF kNN whose similarity scatter the addon's thread can take (about 0.5 ms a prompt per
   * 7,600 training rows, which the event loop should not spend).
   */
  get prefersWorkerThread(): boolean {
    return this.#knn?.native === true;
  }

  /** Scores `count` prompts into `out` on the addon's thread; `input` must stay untouched until it settles. */
  async score(input: ScoreInput, count: number, out: Float32Array): Promise<void> {
    // A TF-IDF kNN: encoded here (microseconds), its similarity scatter on the addon's thread.
    if (this.#knn) await this.#knnAsync(input, count, out);
    else await scoreWith(this.#native, input, count, out);
    if (!this.#post) return;
    if (this.#members.length > 0) {
      const parts = await Promise.all(this.#members.map(async (mh) => {
        const part = new Float32Array(out.length);
        await scoreWith(mh, input, count, part);
        return part;
      }));
      const k = this.#members.length + 1;
      for (let i = 0; i < out.length; i++) {
        let s = out[i]!;
        for (const p of parts) s += p[i]!;
        out[i] = s / k;
      }
    }
    this.#post.apply(out, count);
  }

  /** The cost network's raw outputs (cost shares) for `count` prompts, on the calling thread; see {@link Scorer.toCost}. */
  costSharesSync(input: ScoreInput, count: number, out: Float32Array): void {
    scoreSyncWith(this.#costNet!, input, count, out);
  }

  /** {@link Scorer.costSharesSync} on the addon's thread. */
  costShares(input: ScoreInput, count: number, out: Float32Array): Promise<void> {
    return scoreWith(this.#costNet!, input, count, out);
  }

  /**
   * Cost shares to USD per query, in place (`rows` × models). Where `keep[j]` is 0 the entry becomes
   * NaN instead: the router's way of saying "the registry prices this model, its price stands".
   */
  toCost(costs: Float32Array, rows: number, keep?: Uint8Array): void {
    const m = this.#native.outputs, mean = this.#costMean;
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < m; j++) costs[i * m + j] = keep !== undefined && keep[j] === 0 ? NaN : costFromShare(costs[i * m + j]!, mean[j]!);
    }
  }

  /** Frees every native handle. */
  dispose(): void {
    this.#native.dispose();
    this.#knn?.dispose();
    this.#disposeMembers();
    this.#costNet?.dispose();
  }

  /** TF-IDF kNN scores of `count` prompts into `out` (a hashing router's input is always text). */
  #knnSync(input: ScoreInput, count: number, out: Float32Array): void {
    const { rows, scores } = this.#knnQueries(input, count, out);
    this.#knn!.score(rows, scores);
  }

  /** {@link Scorer.#knnSync} with the similarity scatter on the addon's thread. */
  async #knnAsync(input: ScoreInput, count: number, out: Float32Array): Promise<void> {
    const { rows, scores } = this.#knnQueries(input, count, out);
    await this.#knn!.scoreAsync(rows, scores);
  }

  /** The TF-IDF rows of `count` prompts (encoded here) and the part of `out` their scores fill. */
  #knnQueries(input: ScoreInput, count: number, out: Float32Array): { rows: CsrRows; scores: Float32Array } {
    if (input.text === undefined) throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', 'a TF-IDF kNN router scores prompt text, not embeddings');
    const n = count * this.#native.outputs;
    return { rows: this.#native.encode(input.text, input.offsets, count), scores: out.length === n ? out : out.subarray(0, n) };
  }

  #disposeMembers(): void {
    for (const m of this.#members) m.dispose();
    this.#members.length = 0;
  }

  /** Members' mean and blend/calibration on the calling thread (small batches). */
  #postSync(input: ScoreInput, count: number, out: Float32Array): void {
    const n = count * this.#native.outputs;
    if (this.#members.length > 0) {
      if (this.#memberOut.length < n) this.#memberOut = new Float32Array(n);
      const part = this.#memberOut.length === n ? this.#memberOut : this.#memberOut.subarray(0, n);
      for (const mh of this.#members) {
        scoreSyncWith(mh, input, count, part);
        for (let i = 0; i < n; i++) out[i] = out[i]! + part[i]!;
      }
      const k = this.#members.length + 1;
      for (let i = 0; i < n; i++) out[i] = out[i]! / k;
    }
    this.#post!.apply(out, count);
  }
}

function scoreSyncWith(h: NativeRouterHandle, input: ScoreInput, count: number, out: Float32Array): void {
  if (input.rows !== undefined) h.scoreEmbeddingsSync(input.rows, count, input.rows.length / count, out);
  else h.scoreSync(input.text, input.offsets, count, out);
}

function scoreWith(h: NativeRouterHandle, input: ScoreInput, count: number, out: Float32Array): Promise<void> {
  if (input.rows !== undefined) return h.scoreEmbeddings(input.rows, count, input.rows.length / count, out);
  return h.score(input.text, input.offsets, count, out);
}
