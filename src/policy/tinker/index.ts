// The Tinker API backend: a Trainer over HTTP (see trainer.ts) and its wire types.
export {
  TinkerTrainer,
  createTinkerTrainer,
  DEFAULT_TINKER_BASE_URL,
  CHECKPOINT_POINTER,
} from './trainer.ts';
export type { TinkerTrainerOptions, CreateTinkerTrainerOptions } from './trainer.ts';
export { TinkerHttpError } from './http.ts';
export { TinkerFutureError } from './futures.ts';
