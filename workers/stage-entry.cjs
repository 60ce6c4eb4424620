'use strict';
// piscina's entry for a pipeline stage worker: it imports the stage task (stage-worker.js, an ES
// module) and runs it. CommonJS on purpose, and copied into dist/ as written (esbuild would turn
// the import() into a require()): piscina loads its `filename` with require() first, and on Node
// 20.19+ and 22 a require() of an ES module aborts the whole process ("FATAL ERROR:
// v8::Module::IsGraphAsync ... must be used on an instantiated module") when the worker is
// terminated while the module is being linked. A pipeline terminates workers that are still
// starting (a version that fails its health check, abort()); import() has no such path.
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');

let stageTask;
module.exports = async function runStage(task) {
  stageTask ??= import(pathToFileURL(join(__dirname, 'stage-worker.js')).href).then(
    (m) => m.default,
    (err) => {
      stageTask = undefined; // the next task tries again
      throw err;
    },
  );
  return (await stageTask)(task);
};
