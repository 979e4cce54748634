// `search-r1 serve-trainer`: a Trainer served over the Tinker training API.
export { TinkerServer, startTinkerServer } from './server.ts';
export type { TinkerServerOptions, TrainerProvider } from './server.ts';
