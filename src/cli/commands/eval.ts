// Placeholder: the owner of this command replaces this module (see the issue that asks for it).
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('eval')
    .description('Evaluate methods on QA datasets (not built yet)')
    .action(() => {
      throw new Error('the "eval" command is not built yet');
    });
}
