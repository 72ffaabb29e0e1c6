import type { Command } from '../command.js';
import { appList, appRevoke } from './app.js';
import { audit } from './audit.js';
import { connectionAdd } from './connection-add.js';
import { envCreate } from './env-create.js';
import { envRepair } from './env-repair.js';
import { envSet } from './env-set.js';
import { keysRotate } from './keys-rotate.js';
import { memberAdd } from './member-add.js';
import { memberRemove } from './member-remove.js';
import { orgCreate } from './org-create.js';
import { lakehouseDropLegacy } from './lakehouse-drop-legacy.js';
import { lakehouseImport } from './lakehouse-import.js';
import { semanticModelApply } from './semantic-model-apply.js';
import { serviceAccountCreate, serviceAccountList, serviceAccountRevoke } from './service-account.js';
import { userCreate } from './user-create.js';
import { webhookAdd, webhookList, webhookRemove, webhookReplay } from './webhook.js';

/** Every admin command, in --help order. Adding one: write `commands/<words>.ts` and list it here. */
export const commands: readonly Command[] = [
  orgCreate,
  envCreate,
  envSet,
  envRepair,
  userCreate,
  memberAdd,
  memberRemove,
  serviceAccountCreate,
  serviceAccountList,
  serviceAccountRevoke,
  appList,
  appRevoke,
  keysRotate,
  connectionAdd,
  semanticModelApply,
  lakehouseImport,
  lakehouseDropLegacy,
  webhookAdd,
  webhookList,
  webhookRemove,
  webhookReplay,
  audit,
];
