// Placeholder: the owner of this command replaces this module (see the issue that asks for it).
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('model')
    .description('Create and convert model checkpoints (not built yet)')
    .action(() => {
      throw new Error('the "model" command is not built yet');
    });
}
