// Top-1 accuracy of an ONNX classifier on the Fashion-MNIST test split, run
// by ONNX Runtime (onnxruntime-node, one thread): the check that a written
// model scores in the runtime users deploy on what `onnxcompress eval` says.
// Usage: node bench/finetune/ort_eval.js MODEL [DATA_DIR] [MEAN STD]
// Prints {"samples": N, "correct": C, "accuracy": A} as one JSON line.
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const ort = require(process.env.ORT_NODE_MODULE || path.join(__dirname, '..', '..', 'node_modules', 'onnxruntime-node'));

function readIDX(file) {
  let buf = fs.readFileSync(file);
  if (file.endsWith('.gz')) buf = zlib.gunzipSync(buf);
  const rank = buf[3];
  const dims = [];
  for (let i = 0; i < rank; i++) dims.push(buf.readUInt32BE(4 + 4 * i));
  return { dims, data: buf.subarray(4 + 4 * rank) };
}

async function main() {
  const [model, dir = '/usr/share/datasets/fashion-mnist', mean = '0.286', std = '0.353'] = process.argv.slice(2);
  const images = readIDX(path.join(dir, 't10k-images-idx3-ubyte.gz'));
  const labels = readIDX(path.join(dir, 't10k-labels-idx1-ubyte.gz'));
  const [n, h, w] = images.dims;
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const m = parseFloat(mean), s = parseFloat(std);
  const batch = 500;
  let correct = 0;
  for (let b0 = 0; b0 < n; b0 += batch) {
    const count = Math.min(batch, n - b0);
    const x = new Float32Array(count * h * w);
    for (let i = 0; i < x.length; i++) x[i] = (images.data[b0 * h * w + i] / 255 - m) / s;
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [count, 1, h, w]) });
    const logits = out[session.outputNames[0]];
    const k = logits.dims[1];
    for (let i = 0; i < count; i++) {
      let best = 0;
      for (let c = 1; c < k; c++) if (logits.data[i * k + c] > logits.data[i * k + best]) best = c;
      if (best === labels.data[b0 + i]) correct++;
    }
  }
  console.log(JSON.stringify({ samples: n, correct, accuracy: correct / n }));
}

main().catch((e) => { console.error(e.message || e); process.exit(1); });
