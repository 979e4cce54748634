// Placeholder: the owner of this command replaces this module (see the issue that asks for it).
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('infer')
    .description('Answer one question with the search agent (not built yet)')
    .action(() => {
      throw new Error('the "infer" command is not built yet');
    });
}
