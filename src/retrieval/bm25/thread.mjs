// Worker-thread entry: worker threads do not inherit the CLI's programmatic tsx registration, so
// register it here, then run the TypeScript module named by workerData.entry (a file URL).
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
