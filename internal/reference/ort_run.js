// Drives onnxruntime-node for the Go test harness (internal/reference).
// Usage: node ort_run.js MANIFEST.json
// The manifest lists jobs; each job names a model and its inputs as raw
// little-endian files. Outputs are written as raw files beside the manifest
// and described in MANIFEST.json.result.json. A failing job records its error
// and the others still run, so one node start serves many models.
'use strict';
const fs = require('fs');
const path = require('path');

const ortPath = process.env.ORT_NODE_MODULE || 'onnxruntime-node';
const ort = require(ortPath);

const arrayTypes = {
  float32: Float32Array,
  float64: Float64Array,
  int64: BigInt64Array,
  int32: Int32Array,
  uint8: Uint8Array,
  int8: Int8Array,
  bool: Uint8Array,
};

function readTensor(dir, spec) {
  const Arr = arrayTypes[spec.dtype];
  if (!Arr) throw new Error(`input ${spec.name}: unsupported dtype ${spec.dtype}`);
  const buf = fs.readFileSync(path.join(dir, spec.file));
  if (buf.length % Arr.BYTES_PER_ELEMENT !== 0) {
    throw new Error(`input ${spec.name}: ${buf.length} bytes is not a whole number of ${spec.dtype}`);
  }
  // Copy into a fresh, aligned buffer: Buffer slices may be unaligned.
  const data = new Arr(buf.length / Arr.BYTES_PER_ELEMENT);
  new Uint8Array(data.buffer).set(buf);
  return new ort.Tensor(spec.dtype, data, spec.dims);
}

function writeTensor(dir, prefix, name, tensor) {
  if (!arrayTypes[tensor.type]) throw new Error(`output ${name}: unsupported dtype ${tensor.type}`);
  const file = `${prefix}.out.bin`;
  const d = tensor.data;
  fs.writeFileSync(path.join(dir, file), Buffer.from(d.buffer, d.byteOffset, d.byteLength));
  return { name, dtype: tensor.type, dims: tensor.dims.map(Number), file };
}

async function runJob(dir, job, index, manifest) {
  const session = await ort.InferenceSession.create(job.model, {
    intraOpNumThreads: manifest.threads || 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: manifest.optimization || 'all',
  });
  const feeds = {};
  for (const spec of job.inputs) feeds[spec.name] = readTensor(dir, spec);
  if (manifest.mode === 'bench') {
    const iters = manifest.iters || 10;
    const warmup = Math.max(2, Math.ceil(iters / 10));
    for (let i = 0; i < warmup; i++) await session.run(feeds);
    const times = [];
    for (let i = 0; i < iters; i++) {
      const t0 = process.hrtime.bigint();
      await session.run(feeds);
      times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    times.sort((a, b) => a - b);
    const mid = times.length >> 1;
    const median = times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
    return { median_seconds: median, warmup, iters };
  }
  const results = await session.run(feeds);
  const outputs = session.outputNames.map((name, i) =>
    writeTensor(dir, `job${index}_${i}`, name, results[name]));
  return { outputs };
}

async function main() {
  const manifestPath = process.argv[2];
  const dir = path.dirname(manifestPath);
  const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  const jobs = [];
  for (let i = 0; i < manifest.jobs.length; i++) {
    try {
      jobs.push(await runJob(dir, manifest.jobs[i], i, manifest));
    } catch (e) {
      jobs.push({ error: String(e && e.message ? e.message : e) });
    }
  }
  fs.writeFileSync(manifestPath + '.result.json', JSON.stringify({ ort_version: ort.env.versions ? ort.env.versions.common : '', jobs }));
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  process.exit(1);
});
