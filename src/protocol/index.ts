// The Search-R1 text protocol in one import: template, actions, passages, rewards.
export * from './prompt.ts';
export * from './actions.ts';
export * from './passages.ts';
export * from './rewards.ts';
export { pyStrip, pySplit } from './text.ts';
