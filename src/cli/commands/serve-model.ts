// Placeholder: the owner of this command replaces this module (see the issue that asks for it).
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('serve-model')
    .description('Serve a model over an OpenAI-compatible API (not built yet)')
    .action(() => {
      throw new Error('the "serve-model" command is not built yet');
    });
}
