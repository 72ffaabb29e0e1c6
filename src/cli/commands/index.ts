import type { Command } from '../command.js';
import { envCreate } from './env-create.js';
import { memberAdd } from './member-add.js';
import { orgCreate } from './org-create.js';
import { userCreate } from './user-create.js';

/** Every admin command, in --help order. Adding one: write `commands/<words>.ts` and list it here. */
export const commands: readonly Command[] = [orgCreate, envCreate, userCreate, memberAdd];
