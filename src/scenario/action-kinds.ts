/**
 * The kinds of action a scenario's `do:` and World.at take, in one list that the schema
 * (with zod) and src/world.ts (without it) both check against.
 */
/** The actions of the user-mode application (device.ts): they name a handle, not a device. */
export const appActionKinds = ['open', 'ioctl', 'read', 'write', 'close', 'cancel', 'exit'] as const;

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
  ...appActionKinds,
] as const;
