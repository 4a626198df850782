export * from './names.js';
export * from './spec.js';
export * from './snapshot.js';
export * from './plan.js';
export * from './apply.js';
export * from './node.js';
