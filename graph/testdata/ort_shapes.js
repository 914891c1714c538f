// Runs each model given on the command line once in ONNX Runtime with
// zero-filled float32 inputs of the shapes it declares, and prints a JSON
// list with each model's output dimensions (or its error), in order.
// Used by graph/conformance_test.go to check shape inference against the
// runtime models are deployed on.
const path = require('path');
const ort = require(path.join(__dirname, '..', '..', 'node_modules', 'onnxruntime-node'));

(async () => {
  const results = [];
  for (const file of process.argv.slice(2)) {
    try {
      const session = await ort.InferenceSession.create(file, { logSeverityLevel: 3 });
      const feeds = {};
      for (const name of session.inputNames) {
        const meta = session.inputMetadata.find((m) => m.name === name) || {};
        const dims = (meta.shape || []).map((d) => (typeof d === 'number' ? d : 1));
        const size = dims.reduce((a, b) => a * b, 1);
        feeds[name] = new ort.Tensor('float32', new Float32Array(size), dims);
      }
      const out = await session.run(feeds);
      results.push({ outputs: session.outputNames.map((n) => out[n].dims) });
    } catch (e) {
      results.push({ error: String(e) });
    }
  }
  process.stdout.write(JSON.stringify(results));
})();
