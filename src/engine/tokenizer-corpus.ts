// Built-in text for training the default tokenizer of `search-r1 model init` when no
// `--tokenizer DIR` is given: the Search-R1 protocol strings (so the prompt and tags compress
// well) plus a little plain English. Small on purpose: a random-initialised model only needs a
// valid, stable tokenizer; models trained on real text (world-base) train their own.
import { INVALID_ACTION_MESSAGE } from '../protocol/actions.ts';
import { SEARCH_R1_TEMPLATE, searchR1UserPrompt } from '../protocol/prompt.ts';

export function builtinTokenizerCorpus(): string[] {
  return [
    SEARCH_R1_TEMPLATE,
    searchR1UserPrompt('what is the capital of France'),
    INVALID_ACTION_MESSAGE,
    '<think> I need to find the capital of France. </think>\n<search> capital of France </search>\n\n' +
      '<information>Doc 1(Title: "Paris") Paris is the capital and most populous city of France.\n' +
      'Doc 2(Title: "France") France is a country in Western Europe.</information>\n\n' +
      '<think> The capital of France is Paris. </think>\n<answer> Paris </answer>',
    'The quick brown fox jumps over the lazy dog. Who wrote the book? Where was she born? ' +
      'When did the war end? Which river flows through the city? How many people live there? ' +
      'The answer is in the document. The title of the film is the name of the director.',
    'In 1998, the team won the national championship for the first time; their coach, ' +
      'a former player, was born in 1954 and died in 2011. The population was 12,345 at the 2010 census.',
  ];
}
