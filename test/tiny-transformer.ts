/**
 * A tiny random transformer encoder written as ONNX (opset 17) by the project's own protobuf
 * writer, and the same forward pass in plain TypeScript (float64), for the onnx encoder's tests:
 * token + type embeddings, one single-head self-attention block with the attention mask, residual
 * and LayerNorm, a ReLU feed-forward block with residual and LayerNorm. Inputs input_ids,
 * attention_mask, token_type_ids (int64 [batch, tokens]); output last_hidden_state
 * (float [batch, tokens, hidden]) — the interface of a BERT-style sentence-transformer export.
 */
import { Writer } from '../src/evaluation/onnx-export.js';
import { randomFloats } from './encoder-fixtures.js';

export interface TinyTransformer {
  vocab: number;
  hidden: number;
  ffn: number;
  wordEmb: Float32Array; // vocab x hidden
  typeEmb: Float32Array; // 2 x hidden
  wq: Float32Array;
  wk: Float32Array;
  wv: Float32Array;
  wo: Float32Array; // hidden x hidden each
  w1: Float32Array; // hidden x ffn
  w2: Float32Array; // ffn x hidden
  g1: Float32Array;
  b1: Float32Array;
  g2: Float32Array;
  b2: Float32Array;
}

export function randomTransformer(vocab: number, hidden = 16, ffn = 32, seed = 5): TinyTransformer {
  const scaled = (n: number, s: number, k: number): Float32Array => randomFloats(n, s).map((v) => v * k);
  return {
    vocab,
    hidden,
    ffn,
    wordEmb: scaled(vocab * hidden, seed, 1),
    typeEmb: scaled(2 * hidden, seed + 1, 0.5),
    wq: scaled(hidden * hidden, seed + 2, 0.4),
    wk: scaled(hidden * hidden, seed + 3, 0.4),
    wv: scaled(hidden * hidden, seed + 4, 0.4),
    wo: scaled(hidden * hidden, seed + 5, 0.4),
    w1: scaled(hidden * ffn, seed + 6, 0.4),
    w2: scaled(ffn * hidden, seed + 7, 0.3),
    g1: randomFloats(hidden, seed + 8).map((v) => 1 + 0.1 * v),
    b1: scaled(hidden, seed + 9, 0.1),
    g2: randomFloats(hidden, seed + 10).map((v) => 1 + 0.1 * v),
    b2: scaled(hidden, seed + 11, 0.1),
  };
}

// onnx.proto field numbers (onnx/onnx.proto3).
const Model = { irVersion: 1, producerName: 2, graph: 7, opsetImport: 8 };
const Opset = { domain: 1, version: 2 };
const Graph = { node: 1, name: 2, initializer: 5, input: 11, output: 12 };
const Node = { input: 1, output: 2, name: 3, opType: 4, attribute: 5 };
const Attr = { name: 1, i: 3, ints: 8, type: 20 };
const AttrType = { INT: 2, INTS: 7 };
const Tensor = { dims: 1, dataType: 2, name: 8, rawData: 9 };
const DT = { FLOAT: 1, INT64: 7 };

// Non-negative values only: the writer's varints are unsigned (so axes are given as 2, not -1).
type AttrValue = { i: number } | { ints: number[] };

function floatBytes(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  data.forEach((v, i) => {
    view.setFloat32(4 * i, v, true);
  });
  return out;
}

function int64Bytes(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    view.setBigInt64(8 * i, BigInt(v), true);
  });
  return out;
}

/**
 * A classification head on the transformer's first ([CLS]) state: `logits = cls · weight + bias`,
 * one column per model (RouteLLM's BERT classifier router has this shape).
 */
export interface ClassifierHead {
  models: number;
  weight: Float32Array; // hidden x models
  bias: Float32Array; // models
}

export function randomHead(m: TinyTransformer, models: number, seed = 21): ClassifierHead {
  return { models, weight: randomFloats(m.hidden * models, seed).map((v) => v * 0.8), bias: randomFloats(models, seed + 1).map((v) => v * 0.2) };
}

/**
 * The model as ONNX bytes. `variant` makes hostile models: 'wrong-shape' a rank-0 output (the
 * encoder) or a [batch, tokens, models] one (with a head), 'nan' multiplies the output by NaN.
 * With `head`, the output is `logits` [batch, models] (a classifier for the onnx predictor)
 * instead of `last_hidden_state`.
 */
export function transformerOnnx(m: TinyTransformer, variant: 'normal' | 'wrong-shape' | 'nan' = 'normal', head?: ClassifierHead): Uint8Array {
  const w = new Writer();
  w.int(Model.irVersion, 8);
  w.string(Model.producerName, 'routecore-test');
  w.message(Model.opsetImport, (o) => o.string(Opset.domain, '').int(Opset.version, 17));
  w.message(Model.graph, (g) => {
    g.string(Graph.name, 'tiny_transformer');
    const init = (name: string, dims: number[], data: Float32Array): void => {
      g.message(Graph.initializer, (t) => {
        for (const d of dims) t.int(Tensor.dims, d);
        t.int(Tensor.dataType, DT.FLOAT);
        t.string(Tensor.name, name);
        t.bytes(Tensor.rawData, floatBytes(data));
      });
    };
    const initInt = (name: string, values: number[]): void => {
      g.message(Graph.initializer, (t) => {
        t.int(Tensor.dims, values.length);
        t.int(Tensor.dataType, DT.INT64);
        t.string(Tensor.name, name);
        t.bytes(Tensor.rawData, int64Bytes(values));
      });
    };
    const H = m.hidden;
    init('word_emb', [m.vocab, H], m.wordEmb);
    init('type_emb', [2, H], m.typeEmb);
    init('wq', [H, H], m.wq);
    init('wk', [H, H], m.wk);
    init('wv', [H, H], m.wv);
    init('wo', [H, H], m.wo);
    init('w1', [H, m.ffn], m.w1);
    init('w2', [m.ffn, H], m.w2);
    init('g1', [H], m.g1);
    init('b1', [H], m.b1);
    init('g2', [H], m.g2);
    init('b2', [H], m.b2);
    init('scale', [], Float32Array.of(1 / Math.sqrt(H)));
    init('one', [], Float32Array.of(1));
    init('neg_big', [], Float32Array.of(-1e9));
    if (variant === 'nan') init('nan', [], Float32Array.of(Number.NaN));
    initInt('axis1', [1]);
    let k = 0;
    const node = (op: string, inputs: string[], output: string, attrs: Record<string, AttrValue> = {}): void => {
      g.message(Graph.node, (n) => {
        for (const i of inputs) n.string(Node.input, i);
        n.string(Node.output, output);
        n.string(Node.name, `n${k++}`);
        n.string(Node.opType, op);
        for (const [name, v] of Object.entries(attrs)) {
          n.message(Node.attribute, (a) => {
            a.string(Attr.name, name);
            if ('i' in v) {
              a.int(Attr.i, v.i).int(Attr.type, AttrType.INT);
            } else {
              for (const x of v.ints) a.int(Attr.ints, x);
              a.int(Attr.type, AttrType.INTS);
            }
          });
        }
      });
    };
    node('Gather', ['word_emb', 'input_ids'], 'x_word', { axis: { i: 0 } });
    node('Gather', ['type_emb', 'token_type_ids'], 'x_type', { axis: { i: 0 } });
    node('Add', ['x_word', 'x_type'], 'x');
    node('MatMul', ['x', 'wq'], 'q');
    node('MatMul', ['x', 'wk'], 'k');
    node('MatMul', ['x', 'wv'], 'v');
    node('Transpose', ['k'], 'kt', { perm: { ints: [0, 2, 1] } });
    node('MatMul', ['q', 'kt'], 's');
    node('Mul', ['s', 'scale'], 's2');
    node('Cast', ['attention_mask'], 'mask_f', { to: { i: DT.FLOAT } });
    node('Sub', ['one', 'mask_f'], 'unmask');
    node('Mul', ['unmask', 'neg_big'], 'mask_add');
    node('Unsqueeze', ['mask_add', 'axis1'], 'mask_add3');
    node('Add', ['s2', 'mask_add3'], 's3');
    node('Softmax', ['s3'], 'p', { axis: { i: 2 } });
    node('MatMul', ['p', 'v'], 'c');
    node('MatMul', ['c', 'wo'], 'o');
    node('Add', ['x', 'o'], 'h1');
    node('LayerNormalization', ['h1', 'g1', 'b1'], 'n1', { axis: { i: 2 } });
    node('MatMul', ['n1', 'w1'], 'f1');
    node('Relu', ['f1'], 'r');
    node('MatMul', ['r', 'w2'], 'f2');
    node('Add', ['n1', 'f2'], 'h2');
    if (head) {
      // [CLS] state (index 0 of the tokens axis) -> logits; 'wrong-shape' keeps every token.
      init('head_w', [H, head.models], head.weight);
      init('head_b', [head.models], head.bias);
      node('LayerNormalization', ['h2', 'g2', 'b2'], 'n2', { axis: { i: 2 } });
      if (variant === 'wrong-shape') node('MatMul', ['n2', 'head_w'], 'hw');
      else {
        g.message(Graph.initializer, (t) => {
          t.int(Tensor.dataType, DT.INT64); // a scalar: no dims
          t.string(Tensor.name, 'first');
          t.bytes(Tensor.rawData, int64Bytes([0]));
        });
        node('Gather', ['n2', 'first'], 'cls', { axis: { i: 1 } });
        node('MatMul', ['cls', 'head_w'], 'hw');
      }
      node('Add', ['hw', 'head_b'], variant === 'nan' ? 'raw' : 'logits');
      if (variant === 'nan') node('Mul', ['raw', 'nan'], 'logits');
    } else {
      const last = variant === 'nan' ? 'n2' : 'last_hidden_state';
      node('LayerNormalization', ['h2', 'g2', 'b2'], variant === 'wrong-shape' ? 'n2' : last, { axis: { i: 2 } });
      if (variant === 'nan') node('Mul', ['n2', 'nan'], 'last_hidden_state');
      if (variant === 'wrong-shape') node('ReduceSum', ['n2'], 'last_hidden_state', { keepdims: { i: 0 } });
    }
    const io = (field: number, name: string, elem: number, dims: Array<string | number>): void => {
      g.message(field, (v) => {
        v.string(1, name);
        v.message(2, (t) =>
          t.message(1, (tt) => {
            tt.int(1, elem);
            tt.message(2, (s) => {
              for (const d of dims) s.message(1, (dm) => (typeof d === 'number' ? dm.int(1, d) : dm.string(2, d)));
            });
          }),
        );
      });
    };
    io(Graph.input, 'input_ids', DT.INT64, ['batch', 'tokens']);
    io(Graph.input, 'attention_mask', DT.INT64, ['batch', 'tokens']);
    io(Graph.input, 'token_type_ids', DT.INT64, ['batch', 'tokens']);
    if (head) io(Graph.output, 'logits', DT.FLOAT, variant === 'wrong-shape' ? ['batch', 'tokens', head.models] : ['batch', head.models]);
    else io(Graph.output, 'last_hidden_state', DT.FLOAT, variant === 'wrong-shape' ? [] : ['batch', 'tokens', H]);
  });
  return w.finish();
}

/** The same forward pass in float64 for one sequence (no padding): tokens x hidden. */
export function referenceForward(m: TinyTransformer, ids: readonly number[], typeIds?: readonly number[]): Float64Array[] {
  const H = m.hidden, T = ids.length;
  const matmul = (x: Float64Array[], wt: Float32Array, inDim: number, outDim: number): Float64Array[] =>
    x.map((row) => {
      const out = new Float64Array(outDim);
      for (let i = 0; i < inDim; i++) for (let j = 0; j < outDim; j++) out[j] += row[i]! * wt[i * outDim + j]!;
      return out;
    });
  const layerNorm = (x: Float64Array[], g: Float32Array, b: Float32Array): Float64Array[] =>
    x.map((row) => {
      const mean = row.reduce((a, v) => a + v, 0) / H;
      const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / H;
      return row.map((v, j) => ((v - mean) / Math.sqrt(variance + 1e-5)) * g[j]! + b[j]!);
    });
  const x = ids.map((id, t) => {
    const row = new Float64Array(H);
    const type = typeIds?.[t] ?? 0;
    for (let j = 0; j < H; j++) row[j] = m.wordEmb[id * H + j]! + m.typeEmb[type * H + j]!;
    return row;
  });
  const q = matmul(x, m.wq, H, H), k = matmul(x, m.wk, H, H), v = matmul(x, m.wv, H, H);
  const c = q.map((qi) => {
    const s = k.map((kj) => qi.reduce((a, qv, d) => a + qv * kj[d]!, 0) / Math.sqrt(H));
    const mx = Math.max(...s);
    const e = s.map((z) => Math.exp(z - mx));
    const sum = e.reduce((a, b) => a + b, 0);
    const out = new Float64Array(H);
    for (let j = 0; j < T; j++) for (let d = 0; d < H; d++) out[d] += (e[j]! / sum) * v[j]![d]!;
    return out;
  });
  const o = matmul(c, m.wo, H, H);
  const n1 = layerNorm(x.map((r, t) => r.map((val, j) => val + o[t]![j]!)), m.g1, m.b1);
  const f = matmul(matmul(n1, m.w1, H, m.ffn).map((r) => r.map((z) => Math.max(0, z))), m.w2, m.ffn, H);
  return layerNorm(n1.map((r, t) => r.map((val, j) => val + f[t]![j]!)), m.g2, m.b2);
}

/** The classifier's logits for one sequence in float64: the [CLS] state through the head. */
export function referenceLogits(m: TinyTransformer, head: ClassifierHead, ids: readonly number[]): Float64Array {
  const cls = referenceForward(m, ids)[0]!;
  const out = new Float64Array(head.models);
  for (let k = 0; k < head.models; k++) {
    let s = head.bias[k]!;
    for (let j = 0; j < m.hidden; j++) s += cls[j]! * head.weight[j * head.models + k]!;
    out[k] = s;
  }
  return out;
}
