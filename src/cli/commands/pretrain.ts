// Placeholder: the owner of this command replaces this module (see the issue that asks for it).
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('pretrain')
    .description('Pretrain the tiny base model of the bundled world (not built yet)')
    .action(() => {
      throw new Error('the "pretrain" command is not built yet');
    });
}
