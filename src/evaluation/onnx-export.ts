/**
 * Exports a router's network as an ONNX model, so other runtimes (onnxruntime, TensorRT, a
 * browser) can run the same predictor, and so benchmark P4 can race onnxruntime on it.
 *
 * The model (IR version 8, opset 13) has one input, `features`: float32 [N, inputDim], and one
 * output, `scores`: float32 [N, models], each in [0,1]. The graph is
 * `MatMul(table) -> Add(table_bias) -> Relu -> MatMul(out_weight) -> Add(out_bias) -> Sigmoid`
 * for `mlp`, `MatMul -> Add -> Sigmoid` for `linear`. Tables stored as F16 in the router file
 * become float32 initializers (exact: every half is a float).
 *
 * `precomputed` routers export as they run: `features` is the embedding. For a `hashing` router the
 * export is the same network over the dense 2^k feature vector: the hashing encoder (text ->
 * TF-IDF row over 2^k buckets, L2-normalised) is not an ONNX graph, so callers must produce that
 * row themselves (routecore's encoder, scattered into a dense vector), and the model multiplies a
 * dense [N, 2^k] matrix where routecore gathers ~1,000 table rows.
 *
 * The protobuf encoding is written by hand (a few message types, proto3 wire format), so the
 * package needs no protobuf dependency.
 * @module
 */
import { RoutecoreError } from '../errors.js';
import { routerNetwork, type RouterNetwork } from './reference.js';

/** ONNX TensorProto.DataType.FLOAT. */
const FLOAT = 1;
const IR_VERSION = 8;
const OPSET = 13;

/** A growable protobuf writer (proto3 wire format: varints and length-delimited fields). */
/** @internal Also used by the encoder tests to write a tiny transformer. */
export class Writer {
  #chunks: Uint8Array[] = [];
  #buf = new Uint8Array(256);
  #pos = 0;
  #length = 0;

  get length(): number {
    return this.#length + this.#pos;
  }

  #room(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    this.#flush();
    if (n > this.#buf.length) this.#buf = new Uint8Array(Math.max(n, 256));
  }

  #flush(): void {
    if (this.#pos === 0) return;
    this.#chunks.push(this.#buf.slice(0, this.#pos));
    this.#length += this.#pos;
    this.#pos = 0;
  }

  varint(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`varint out of range: ${v}`);
    this.#room(10);
    while (v >= 0x80) {
      this.#buf[this.#pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.#buf[this.#pos++] = v;
    return this;
  }

  tag(field: number, wire: 0 | 2): this {
    return this.varint(field * 8 + wire);
  }

  /** A varint field (int32/int64/enum with non-negative values). */
  int(field: number, v: number): this {
    return this.tag(field, 0).varint(v);
  }

  /** A length-delimited field holding raw bytes. */
  bytes(field: number, b: Uint8Array): this {
    this.tag(field, 2).varint(b.length);
    if (b.length > 4096) {
      // Big payloads (the weight tables) go in as their own chunk, uncopied.
      this.#flush();
      this.#chunks.push(b);
      this.#length += b.length;
    } else {
      this.#room(b.length);
      this.#buf.set(b, this.#pos);
      this.#pos += b.length;
    }
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  /** An embedded message, written by `body` into its own writer. */
  message(field: number, body: (w: Writer) => void): this {
    const inner = new Writer();
    body(inner);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    this.#flush();
    if (this.#chunks.length === 1) return this.#chunks[0]!;
    const out = new Uint8Array(this.#length);
    let at = 0;
    for (const c of this.#chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/** Little-endian float32 bytes of `data` (raw_data of a TensorProto). */
function rawFloats(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i]!, true);
  return out;
}

// Field numbers of onnx.proto (onnx/onnx.proto3).
const ModelProto = { irVersion: 1, producerName: 2, producerVersion: 3, domain: 4, modelVersion: 5, docString: 6, graph: 7, opsetImport: 8, metadataProps: 14 };
const OperatorSetId = { domain: 1, version: 2 };
const GraphProto = { node: 1, name: 2, initializer: 5, docString: 10, input: 11, output: 12 };
const NodeProto = { input: 1, output: 2, name: 3, opType: 4 };
const TensorProto = { dims: 1, dataType: 2, name: 8, rawData: 9 };
const ValueInfo = { name: 1, type: 2, docString: 3 };
const TypeProto = { tensorType: 1 };
const TensorTypeProto = { elemType: 1, shape: 2 };
const ShapeProto = { dim: 1 };
const Dimension = { dimValue: 1, dimParam: 2 };
const StringEntry = { key: 1, value: 2 };

function initializer(w: Writer, name: string, dims: number[], data: Float32Array): void {
  w.message(GraphProto.initializer, (t) => {
    for (const d of dims) t.int(TensorProto.dims, d);
    t.int(TensorProto.dataType, FLOAT);
    t.string(TensorProto.name, name);
    t.bytes(TensorProto.rawData, rawFloats(data));
  });
}

function node(w: Writer, name: string, op: string, inputs: string[], output: string): void {
  w.message(GraphProto.node, (n) => {
    for (const i of inputs) n.string(NodeProto.input, i);
    n.string(NodeProto.output, output);
    n.string(NodeProto.name, name);
    n.string(NodeProto.opType, op);
  });
}

/** A float32 [batch, width] value with a symbolic batch dimension. */
function valueInfo(w: Writer, field: number, name: string, width: number, doc: string): void {
  w.message(field, (v) => {
    v.string(ValueInfo.name, name);
    v.message(ValueInfo.type, (t) =>
      t.message(TypeProto.tensorType, (tt) => {
        tt.int(TensorTypeProto.elemType, FLOAT);
        tt.message(TensorTypeProto.shape, (s) => {
          s.message(ShapeProto.dim, (d) => d.string(Dimension.dimParam, 'N'));
          s.message(ShapeProto.dim, (d) => d.int(Dimension.dimValue, width));
        });
      }),
    );
    v.string(ValueInfo.docString, doc);
  });
}

/** Options of {@link exportOnnx}. */
export interface OnnxExportOptions {
  /** `producer_version` in the model; default: the router file's `format_version`. */
  producerVersion?: string;
}

/** The input name of every exported model: the feature rows (batch × inputDim). */
export const ONNX_INPUT = 'features';
/** The output name of every exported model: the scores (batch × models). */
export const ONNX_OUTPUT = 'scores';

/**
 * Writes the router's network as an ONNX model (see the module comment for the graph and what a
 * hashing router's input is). `routerBytes`: the `.router` file's bytes.
 *
 * ```ts
 * import * as ort from 'onnxruntime-node';
 * const session = await ort.InferenceSession.create(exportOnnx(readFileSync('embed.router')));
 * const { scores } = await session.run({ features: new ort.Tensor('float32', x, [n, dim]) });
 * ```
 */
export function exportOnnx(routerBytes: Uint8Array, options: OnnxExportOptions = {}): Uint8Array {
  if (!(routerBytes instanceof Uint8Array)) {
    throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', 'routerBytes must be the bytes of a .router file (a Uint8Array)');
  }
  return modelBytes(routerNetwork(routerBytes), options);
}

function modelBytes(net: RouterNetwork, options: OnnxExportOptions): Uint8Array {
  const { inputDim: D, width0: H, outputs: M } = net;
  const inputDoc =
    net.encoder === 'precomputed'
      ? `the ${D}-dimensional embedding the router was trained on`
      : `the hashing encoder's L2-normalised TF-IDF row over 2^${Math.log2(D)} buckets, as a dense vector (the encoder is not part of this graph)`;
  const graph = new Writer();
  // Initializers keep the router file's tensor names.
  const names = net.predictor === 'mf' ? ['mf.projection', 'mf.projection_bias', 'mf.model_embedding', 'mf.model_bias'] : ['mlp.table', 'mlp.table_bias', 'mlp.out_weight', 'mlp.out_bias'];
  if (net.predictor === 'mlp' || net.predictor === 'mf') {
    node(graph, 'table', 'MatMul', [ONNX_INPUT, names[0]!], 'h_pre');
    node(graph, 'table_bias', 'Add', ['h_pre', names[1]!], 'h_biased');
    if (net.predictor === 'mlp') node(graph, 'relu', 'Relu', ['h_biased'], 'h');  // mf: no ReLU
    node(graph, 'out', 'MatMul', [net.predictor === 'mlp' ? 'h' : 'h_biased', names[2]!], 'z_pre');
    node(graph, 'out_bias', 'Add', ['z_pre', names[3]!], 'z');
  } else {
    node(graph, 'table', 'MatMul', [ONNX_INPUT, 'linear.weight'], 'z_pre');
    node(graph, 'bias', 'Add', ['z_pre', 'linear.bias'], 'z');
  }
  node(graph, 'sigmoid', 'Sigmoid', ['z'], ONNX_OUTPUT);
  graph.string(GraphProto.name, `routecore ${net.predictor}`);
  if (net.predictor === 'mlp' || net.predictor === 'mf') {
    initializer(graph, names[0]!, [D, H], net.table);
    initializer(graph, names[1]!, [H], net.tableBias);
    initializer(graph, names[2]!, [H, M], net.outWeight!);
    initializer(graph, names[3]!, [M], net.outBias!);
  } else {
    initializer(graph, 'linear.weight', [D, M], net.table);
    initializer(graph, 'linear.bias', [M], net.tableBias);
  }
  graph.string(GraphProto.docString, `routecore ${net.predictor} predictor of a ${net.encoder} router; scores[n, j] = predicted score in [0,1] of model j${net.models ? ` (${net.models.join(', ')})` : ''}`);
  valueInfo(graph, GraphProto.input, ONNX_INPUT, D, inputDoc);
  valueInfo(graph, GraphProto.output, ONNX_OUTPUT, M, 'one sigmoid score per model, in the router\'s model order (metadata routecore.models)');

  const model = new Writer();
  model.int(ModelProto.irVersion, IR_VERSION);
  model.string(ModelProto.producerName, 'routecore');
  model.string(ModelProto.producerVersion, options.producerVersion ?? net.metadata.format_version ?? '');
  model.string(ModelProto.domain, 'ai.routecore');
  model.int(ModelProto.modelVersion, 1);
  model.string(ModelProto.docString, `routecore router network (${net.predictor}, ${net.encoder} encoder)`);
  model.bytes(ModelProto.graph, graph.finish());
  model.message(ModelProto.opsetImport, (o) => {
    o.string(OperatorSetId.domain, '');
    o.int(OperatorSetId.version, OPSET);
  });
  const props: Record<string, string> = {
    'routecore.predictor': net.predictor,
    'routecore.encoder': net.encoder,
    'routecore.input_dim': String(D),
    'routecore.table_dtype': net.tableHalf ? 'F16 (widened to float32)' : 'F32',
  };
  if (net.models) props['routecore.models'] = JSON.stringify(net.models);
  for (const k of ['encoder.log2_buckets', 'encoder.word_ngram_max', 'encoder.char_ngram_min', 'encoder.char_ngram_max']) {
    if (net.metadata[k] !== undefined) props[`routecore.${k}`] = net.metadata[k]!;
  }
  for (const [k, v] of Object.entries(props)) {
    model.message(ModelProto.metadataProps, (e) => {
      e.string(StringEntry.key, k);
      e.string(StringEntry.value, v);
    });
  }
  return model.finish();
}
