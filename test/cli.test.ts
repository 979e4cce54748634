import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildProgram } from '../src/cli/main.ts';

test('every command has --help text', () => {
  const program = buildProgram();
  const names = program.commands.map((c) => c.name());
  assert.ok(names.length >= 10, `expected the documented commands, got ${names.join(', ')}`);
  for (const cmd of program.commands) {
    assert.ok(cmd.helpInformation().includes(cmd.name()), `help of ${cmd.name()}`);
    assert.ok(cmd.description().length > 0, `${cmd.name()} has a description`);
  }
});
