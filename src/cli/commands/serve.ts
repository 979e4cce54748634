// Placeholder: the owner of this command replaces this module (see the issue that asks for it).
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('serve')
    .description('Serve a retriever over the Search-R1 /retrieve API (not built yet)')
    .action(() => {
      throw new Error('the "serve" command is not built yet');
    });
}
