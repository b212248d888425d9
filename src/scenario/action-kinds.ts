/**
 * The kinds of action a scenario's `do:` and World.at take, in one list that the schema
 * (with zod) and src/world.ts (without it) both check against.
 */
export const actionKinds = [
  'start',
  'surprise-remove',
  'remove',
  'disable',
  'stop',
  'shutdown',
  'oid',
  'sleep',
  'send',
  'cancel-sends',
  'wake-signal',
  'frame',
  'start-filter',
  'stop-filter',
  'stop-protocol',
  'open',
  'ioctl',
  'read',
  'write',
  'close',
  'cancel',
  'exit',
] as const;
