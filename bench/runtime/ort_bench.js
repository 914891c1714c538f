// Times ONNX Runtime (onnxruntime-node) on one model: median wall time and
// median process CPU time per run, so the comparison with our runtime holds
// up on a machine shared with other work.
// Usage: node ort_bench.js MODEL.onnx NAME=D0,D1,... THREADS ITERS
'use strict';
const path = require('path');
const ort = require(path.join(__dirname, '..', '..', 'node_modules', 'onnxruntime-node'));

async function main() {
  const [model, inputSpec, threads, iters] = process.argv.slice(2);
  const [name, dimsText] = inputSpec.split('=');
  const dims = dimsText.split(',').map(Number);
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = 1;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    data[i] = s / 2147483648 - 0.5;
  }
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threads),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const feeds = { [name]: new ort.Tensor('float32', data, dims) };
  for (let i = 0; i < 2; i++) await session.run(feeds);
  const wall = [], cpu = [];
  for (let i = 0; i < Number(iters); i++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    const t1 = process.hrtime.bigint();
    const c1 = process.cpuUsage(c0);
    wall.push(Number(t1 - t0) / 1e6);
    cpu.push((c1.user + c1.system) / 1e3);
  }
  const median = (a) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)];
  console.log(JSON.stringify({ wall_ms: median(wall), cpu_ms: median(cpu) }));
}

main().catch((e) => { console.error(e.message || e); process.exit(1); });
