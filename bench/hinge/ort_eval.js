// Top-1 accuracy of an ONNX classifier on the Fashion-MNIST test split, in
// ONNX Runtime (onnxruntime-node), with the bundled models' normalisation
// (pixel/255 − 0.286)/0.353. Usage: node ort_eval.js MODEL [IDX_DIR]
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const ort = require(process.env.ORT_NODE_MODULE || 'onnxruntime-node');

function idx(file) {
  const buf = zlib.gunzipSync(fs.readFileSync(file));
  const dims = buf[3];
  const shape = [];
  for (let i = 0; i < dims; i++) shape.push(buf.readUInt32BE(4 + 4 * i));
  return { shape, data: buf.subarray(4 + 4 * dims) };
}

async function main() {
  const [model, dir = '/usr/share/datasets/fashion-mnist'] = process.argv.slice(2);
  const images = idx(path.join(dir, 't10k-images-idx3-ubyte.gz'));
  const labels = idx(path.join(dir, 't10k-labels-idx1-ubyte.gz'));
  const [n, h, w] = images.shape;
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
  const input = session.inputNames[0];
  const output = session.outputNames[0];
  const batch = 500;
  let correct = 0;
  for (let start = 0; start < n; start += batch) {
    const b = Math.min(batch, n - start);
    const x = new Float32Array(b * h * w);
    for (let i = 0; i < b * h * w; i++) x[i] = (images.data[start * h * w + i] / 255 - 0.286) / 0.353;
    const res = await session.run({ [input]: new ort.Tensor('float32', x, [b, 1, h, w]) });
    const logits = res[output].data;
    const k = logits.length / b;
    for (let i = 0; i < b; i++) {
      let best = 0;
      for (let c = 1; c < k; c++) if (logits[i * k + c] > logits[i * k + best]) best = c;
      if (best === labels.data[start + i]) correct++;
    }
  }
  console.log(JSON.stringify({ model, samples: n, correct, accuracy: correct / n }));
}

main().catch((e) => { console.error(e); process.exit(1); });
