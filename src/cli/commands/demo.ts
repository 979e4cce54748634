// Placeholder: the owner of this command replaces this module (see the issue that asks for it).
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('demo')
    .description('Run the main job on the bundled world (not built yet)')
    .action(() => {
      throw new Error('the "demo" command is not built yet');
    });
}
