// Placeholder: the owner of this command replaces this module (see the issue that asks for it).
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('train')
    .description('Train a policy with GRPO or PPO (not built yet)')
    .action(() => {
      throw new Error('the "train" command is not built yet');
    });
}
