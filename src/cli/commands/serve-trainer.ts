// Placeholder: the owner of this command replaces this module (see the issue that asks for it).
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('serve-trainer')
    .description('Serve the embedded engine over the Tinker training API (not built yet)')
    .action(() => {
      throw new Error('the "serve-trainer" command is not built yet');
    });
}
