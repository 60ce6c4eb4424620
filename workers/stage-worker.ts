// Entry point of a pipeline stage worker (a piscina worker): its default export is the task that
// runs one partition of one stage for the life of the stage. See lib/pipeline/stage-task.ts.
export { default } from '../lib/pipeline/stage-task.js';
