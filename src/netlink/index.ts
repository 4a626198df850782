// The kernel layer: bytes and rtnetlink messages. Drivers above (tunnel/,
// bridge/) know what a tunnel or a bridge is and call these.
export * from './constants.js';
export * from './codec.js';
export * from './socket.js';
export * from './link.js';
export * from './addr.js';
export * from './route.js';
export * from './neigh.js';
export * from './events.js';
export * from './netns.js';
export * from './tc.js';
export * from './ethtool.js';
