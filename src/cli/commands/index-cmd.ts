// Placeholder: the owner of this command replaces this module (see the issue that asks for it).
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('index')
    .description('Build a BM25 index of a corpus (not built yet)')
    .action(() => {
      throw new Error('the "index" command is not built yet');
    });
}
