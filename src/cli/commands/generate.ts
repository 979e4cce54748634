// Placeholder: the owner of this command replaces this module (see the issue that asks for it).
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('generate')
    .description('Generate text with a model (not built yet)')
    .action(() => {
      throw new Error('the "generate" command is not built yet');
    });
}
